"""The interface contract over every installed component (third-party plugins included)."""
import math

import attrs
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


def _float_fields():
    """(config class, field) for every float-typed field of every installed component's config."""
    cases = []
    for kind in facex_core.KINDS:
        for entry in facex_core.registry().list(kind):
            if entry.component is None:
                continue
            for row in facex_core.describe_fields(entry.component.config):
                if "float" in row["type"]:
                    cases.append(pytest.param(entry.component.config, row["name"],
                                              id=f"{kind}/{entry.name}.{row['name']}"))
    return cases


#: Placeholders for required fields, by type, so that a config can be built around the float field.
_REQUIRED = {"str": "x", "int": 10, "float": 1.0, "bool": False}


@pytest.mark.parametrize("config_cls, name", _float_fields())
def test_every_float_field_rejects_nan_and_infinity(config_cls, name):
    fields = {f.name: f for f in attrs.fields(config_cls)}
    required = {}
    for f in fields.values():
        if f.default is attrs.NOTHING and f.name != name:
            typ = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", repr(f.type))
            if typ not in _REQUIRED:
                pytest.skip(f"required field {f.name} ({typ}) has no placeholder")
            required[f.name] = _REQUIRED[typ]
    default = fields[name].default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        default = default.factory()
    try:
        config_cls(**required, **({} if default is attrs.NOTHING else {name: default}))
    except (ValueError, TypeError) as exc:
        pytest.skip(f"cannot build {config_cls.__name__} around {name}: {exc}")
    for bad in (math.nan, math.inf, -math.inf):
        # a tuple of floats gets the bad number in its first place
        value = (bad, *default[1:]) if isinstance(default, (tuple, list)) and default else bad
        with pytest.raises((ValueError, facex_core.ConfigError), match=name):
            config_cls(**required, **{name: value})
