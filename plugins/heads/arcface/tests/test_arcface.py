import math

import pytest
import torch

import facex_core
from facex_core.testing import (assert_light_module, check_head, check_head_at_alignment, check_head_autocast,
                                check_head_matches_reference, check_head_partial_fc, reference_cosines,
                                reference_cross_entropy)
from facex_head_arcface.arcface import ArcFace
from facex_head_arcface.plugin import ArcFaceConfig


def arcface_logits(cos, labels, s, m, easy=False, fallback=None):
    """Per-sample loop straight from the paper: θ = acos(cos θ_y), target s·cos(θ + m), others s·cos θ_j."""
    fallback = m * math.sin(m) if fallback is None else fallback
    logits = cos.clone()
    for i, y in enumerate(labels.tolist()):
        c = cos[i, y]
        theta = torch.acos(c.clamp(-1 + 1e-7, 1 - 1e-7))
        if easy:
            logits[i, y] = torch.cos(theta + m) if c > 0 else c
        elif theta + m <= math.pi:
            logits[i, y] = torch.cos(theta + m)
        else:
            logits[i, y] = c - fallback
    return s * logits


@pytest.mark.parametrize("easy", [False, True])
def test_arcface_matches_per_sample_loop_with_gradients(easy):
    torch.manual_seed(0)
    cfg = ArcFaceConfig(num_classes=7, embedding_size=5, easy_margin=easy)
    head = ArcFace(cfg).double()
    emb = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 3, 6, 2, 3, 1])

    def reference(e, params):
        logits = arcface_logits(reference_cosines(e, params["classifier.weight"]), labels, 64.0, 0.5, easy)
        return {"logits": logits, "loss": reference_cross_entropy(logits, labels)}

    check_head_matches_reference(head, emb, labels, reference, logits_tol=(1e-5, 1e-5), loss_tol=(1e-6, 1e-6),
                                 grad_tol=(1e-4, 1e-6))


def test_arcface_margin_moves_target_angle():
    head = ArcFace(ArcFaceConfig(num_classes=2, embedding_size=2, scale=1.0, margin=0.3))
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    theta = 0.8
    emb = torch.tensor([[math.cos(theta), math.sin(theta)]])
    logits = head(emb, torch.tensor([0])).logits
    assert logits[0, 0].item() == pytest.approx(math.cos(theta + 0.3), abs=1e-6)
    assert logits[0, 1].item() == pytest.approx(math.cos(math.pi / 2 - theta), abs=1e-6)


def test_arcface_fallback_beyond_pi():
    m = 0.5
    head = ArcFace(ArcFaceConfig(num_classes=2, embedding_size=2, scale=1.0, margin=m))
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    theta = math.pi - 0.2  # θ + m > π
    emb = torch.tensor([[math.cos(theta), math.sin(theta)]])
    logit = head(emb, torch.tensor([0])).logits[0, 0].item()
    assert logit == pytest.approx(math.cos(theta) - m * math.sin(m), abs=1e-6)
    # FaceX-Zoo's variant: fallback margin 0
    fz = ArcFace(ArcFaceConfig(num_classes=2, embedding_size=2, scale=1.0, margin=m, fallback_margin=0.0))
    with torch.no_grad():
        fz.weight.copy_(head.weight)
    assert fz(emb, torch.tensor([0])).logits[0, 0].item() == pytest.approx(math.cos(theta), abs=1e-6)


def test_arcface_gradient_finite_at_exact_alignment():
    head = ArcFace(ArcFaceConfig(num_classes=3, embedding_size=4))
    check_head_at_alignment(head)  # cos θ_y = 1 exactly: finite loss and gradients


def test_arcface_contract_and_build_validates_keywords():
    assert_light_module("facex_head_arcface.plugin")
    check_head(facex_core.build("head", "arcface", num_classes=10, embedding_size=8))
    with pytest.raises(facex_core.ConfigError, match="head.margin"):
        facex_core.build("head", "arcface", num_classes=10, margin="big")
    with pytest.raises(facex_core.ConfigError, match="head.marginn: unknown key"):
        facex_core.build("head", "arcface", num_classes=10, marginn=0.5)


@pytest.mark.parametrize("name", ["arcface", "subcenter_arcface"])
def test_bf16_autocast_and_partial_fc(name):
    torch.manual_seed(0)
    check_head_autocast(facex_core.build("head", name, num_classes=10, embedding_size=8))
    check_head_partial_fc(facex_core.build("head", name, num_classes=10, embedding_size=8,
                                           classifier={"sample_rate": 0.5}), batch=4)


def test_subcenter_arcface_uses_max_over_three_subcentres():
    head = facex_core.build("head", "subcenter_arcface", num_classes=4, embedding_size=6)
    assert head.weight.shape == (4, 3, 6)
    check_head(head)
    torch.manual_seed(0)
    emb = torch.randn(5, 6, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 3, 1])
    head = head.double()
    out = head(emb, labels)
    # reference: each class's cosine is that of its best sub-centre, then the ArcFace loop
    w = head.weight.detach()
    best = torch.stack([reference_cosines(emb, w[:, k]) for k in range(3)]).max(dim=0).values
    torch.testing.assert_close(out.logits.double(), arcface_logits(best, labels, 64.0, 0.5), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("field, bad", [
    ("scale", 0.0), ("margin", -0.1), ("margin", 2.0), ("fallback_margin", -1.5), ("fallback_margin", 2.5)
])
def test_settings_outside_their_declared_range_are_refused(field, bad):
    # the ranges of the paper's parameters, declared with option(ge=/gt=/le=/lt=)
    with pytest.raises(facex_core.ConfigError, match=rf"head.{field}:? must be"):
        facex_core.build("head", "arcface", num_classes=10, embedding_size=8, **{field: bad})
