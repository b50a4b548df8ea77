import math

import pytest
import torch

import facex_core
from facex_core.testing import (assert_light_module, check_head, check_head_autocast, check_head_matches_reference,
                                check_head_partial_fc, reference_cosines, reference_cross_entropy)
from facex_head_am_softmax.am_softmax import AMSoftmax
from facex_head_am_softmax.plugin import AMSoftmaxConfig


def reference_logits(emb, weight, labels, s, m):
    """Per-sample loop straight from the formula: s·(cos θ_y − m) for the own class, s·cos θ_j otherwise."""
    cos = reference_cosines(emb, weight)
    logits = cos.clone()
    for i, y in enumerate(labels.tolist()):
        logits[i, y] = cos[i, y] - m
    return s * logits


@pytest.mark.parametrize("name, scale", [("am_softmax", 30.0), ("cosface", 64.0)])
def test_matches_per_sample_loop_with_gradients(name, scale):
    torch.manual_seed(0)
    head = facex_core.build("head", name, num_classes=10, embedding_size=8).double()
    assert isinstance(head, AMSoftmax) and head.scale == scale and head.margin == 0.35
    emb = torch.randn(6, 8, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 3, 9, 2, 3, 1])
    def reference(e, params):
        logits = reference_logits(e, params["classifier.weight"], labels, scale, 0.35)
        return {"logits": logits, "loss": reference_cross_entropy(logits, labels)}

    out = check_head_matches_reference(head, emb, labels, reference)
    assert out.extra_losses == {}


def test_paper_defaults_per_name():
    assert facex_core.component_config("head", "am_softmax", {"num_classes": 5})[1].scale == 30.0
    assert facex_core.component_config("head", "cosface", {"num_classes": 5})[1].scale == 64.0
    cfg = facex_core.component_config("head", "cosface", {"num_classes": 5, "scale": 32.0})[1]
    assert (cfg.scale, cfg.margin) == (32.0, 0.35)  # FaceX-Zoo's values are one override away


def test_margin_subtracts_m_from_the_target_cosine_only():
    head = AMSoftmax(AMSoftmaxConfig(num_classes=2, embedding_size=2, scale=1.0, margin=0.3))
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    theta = 0.8
    logits = head(torch.tensor([[math.cos(theta), math.sin(theta)]]), torch.tensor([0])).logits
    assert logits[0, 0].item() == pytest.approx(math.cos(theta) - 0.3, abs=1e-6)
    assert logits[0, 1].item() == pytest.approx(math.sin(theta), abs=1e-6)


@pytest.mark.parametrize("name", ["am_softmax", "cosface"])
def test_contract_bf16_autocast_and_partial_fc(name):
    torch.manual_seed(0)
    check_head(facex_core.build("head", name, num_classes=10, embedding_size=8))
    check_head_autocast(facex_core.build("head", name, num_classes=10, embedding_size=8))
    # 4 classes in the batch, 5 sampled columns: the positives plus a random negative
    check_head_partial_fc(facex_core.build("head", name, num_classes=10, embedding_size=8,
                                           classifier={"sample_rate": 0.5}), batch=4)


def test_registration_module_is_light():
    assert_light_module("facex_head_am_softmax.plugin")


@pytest.mark.parametrize("field, bad", [
    ("scale", 0.0), ("margin", -0.1), ("margin", 1.5)
])
def test_settings_outside_their_declared_range_are_refused(field, bad):
    # the ranges of the paper's parameters, declared with option(ge=/gt=/le=/lt=)
    with pytest.raises(facex_core.ConfigError, match=rf"head.{field}:? must be"):
        facex_core.build("head", "am_softmax", num_classes=10, embedding_size=8, **{field: bad})
