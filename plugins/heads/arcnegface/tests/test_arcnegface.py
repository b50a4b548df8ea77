import math

import pytest
import torch

import facex_core
from facex_core.testing import (assert_light_module, check_head, check_head_at_alignment, check_head_autocast,
                                check_head_matches_reference, check_head_partial_fc, reference_cosines,
                                reference_cross_entropy)
from facex_head_arcnegface.arcnegface import ArcNegFace
from facex_head_arcnegface.plugin import ArcNegFaceConfig


def reference_logits(emb, weight, labels, s=64.0, m=0.5, alpha=1.2, sigma=2.0):
    """Per-sample loop, as the reference does it: target first, then each negative's weight from it."""
    cos = reference_cosines(emb, weight)
    logits = torch.empty_like(cos)
    for i, y in enumerate(labels.tolist()):
        theta = torch.acos(cos[i, y].clamp(-1 + 1e-7, 1 - 1e-7))
        a_y = torch.cos(theta + m) if theta.item() + m <= math.pi else cos[i, y] - m * math.sin(math.pi - m)
        for j, c in enumerate(cos[i]):
            w = alpha * math.exp(-(c.item() - a_y.item()) ** 2 / sigma)  # a constant for the gradient
            logits[i, j] = a_y if j == y else w * c + w - 1
    return s * logits


def test_arcnegface_matches_per_sample_loop_with_gradients():
    torch.manual_seed(0)
    head = ArcNegFace(ArcNegFaceConfig(num_classes=10, embedding_size=8)).double()
    labels = torch.tensor([0, 3, 9, 2, 3, 7])
    emb = torch.randn(6, 8, dtype=torch.float64)
    emb[0] = -head.weight.detach()[0]  # θ_y + m > π: the fallback branch
    emb.requires_grad_(True)
    def reference(e, params):
        logits = reference_logits(e, params["classifier.weight"], labels)
        return {"logits": logits, "loss": reference_cross_entropy(logits, labels)}

    out = check_head_matches_reference(head, emb, labels, reference)


def test_arcnegface_negative_weight_peaks_at_the_target():
    head = ArcNegFace(ArcNegFaceConfig(num_classes=2, embedding_size=2, scale=1.0))
    theta = 0.3
    with torch.no_grad():  # centre 1 sits exactly at angle θ_y + m from the sample: weight α
        head.weight.copy_(torch.tensor([[1.0, 0.0], [math.cos(theta + 0.5 + theta), math.sin(theta + 0.5 + theta)]]))
    logits = head(torch.tensor([[math.cos(theta), math.sin(theta)]]), torch.tensor([0])).logits
    a_y = math.cos(theta + 0.5)
    assert logits[0, 0].item() == pytest.approx(a_y, abs=1e-6)
    assert logits[0, 1].item() == pytest.approx(1.2 * a_y + 1.2 - 1, abs=1e-5)


def test_arcnegface_contract_and_finite_gradient_at_alignment():
    assert_light_module("facex_head_arcnegface.plugin")
    check_head(facex_core.build("head", "arcnegface", num_classes=10, embedding_size=8))
    head = ArcNegFace(ArcNegFaceConfig(num_classes=3, embedding_size=4))
    check_head_at_alignment(head)  # cos θ_y = 1 exactly: finite loss and gradients


def test_arcnegface_bf16_autocast_and_partial_fc():
    torch.manual_seed(0)
    check_head_autocast(facex_core.build("head", "arcnegface", num_classes=10, embedding_size=8))
    check_head_partial_fc(facex_core.build("head", "arcnegface", num_classes=10, embedding_size=8,
                                           classifier={"sample_rate": 0.5}), batch=4)


@pytest.mark.parametrize("field, bad", [
    ("scale", 0.0), ("margin", 2.0), ("alpha", 0.0), ("sigma", 0.0)
])
def test_settings_outside_their_declared_range_are_refused(field, bad):
    # the ranges of the paper's parameters, declared with option(ge=/gt=/le=/lt=)
    with pytest.raises(facex_core.ConfigError, match=rf"head.{field}:? must be"):
        facex_core.build("head", "arcnegface", num_classes=10, embedding_size=8, **{field: bad})
