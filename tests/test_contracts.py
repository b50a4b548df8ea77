"""The interface contract over every installed component (third-party plugins included)."""
import pytest
import torch

import facex_core
from facex_core.testing import check_backbone, check_head, installed

#: Cheap enough for a real forward/backward here; every family's own tests cover the rest with
#: reduced configurations.
LIGHT = {"mobilefacenet", "mbf", "lightcnn9", "ghostnet", "rexnet_1_0", "tfnas_a"}


@pytest.mark.parametrize("name", installed("backbone"))
def test_every_backbone_declares_its_sizes_and_builds(name):
    with torch.device("meta"):  # no memory for the weights of the big ones
        model = facex_core.build("backbone", name, embedding_size=64)
    assert isinstance(model, facex_core.Backbone)
    assert model.embedding_size == 64 and len(model.input_size) == 2
    if name in LIGHT:
        with facex_core.testing.torch_threads(1):
            check_backbone(facex_core.build("backbone", name, embedding_size=64))


@pytest.mark.parametrize("name", installed("head"))
def test_every_head_meets_the_contract(name):
    check_head(facex_core.build("head", name, num_classes=10, embedding_size=8))


@pytest.mark.parametrize("kind", ["backbone", "head", "protocol", "training_mode", "detector", "aligner", "recognizer"])
def test_every_component_has_a_config_with_documented_fields(kind):
    for entry in facex_core.registry().list(kind):
        if entry.component is None:
            continue
        for field in facex_core.describe_fields(entry.component.config):
            assert field["doc"], f"{kind} {entry.name}: field {field['name']} has no doc"
