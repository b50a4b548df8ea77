import math

import pytest
import torch

import facex_core
from facex_core.testing import check_head
from facex_head_arcface.arcface import ArcFace
from facex_head_arcface.plugin import ArcFaceConfig


def reference_logits(emb, weight, labels, s, m, easy=False, fallback=None):
    """Per-sample loop straight from the paper: θ = acos(cos), target s·cos(θ+m), others s·cos."""
    fallback = m * math.sin(m) if fallback is None else fallback
    rows = []
    for i in range(emb.shape[0]):
        x = emb[i] / emb[i].norm()
        row = []
        for j in range(weight.shape[0]):
            w = weight[j] / weight[j].norm()
            c = (x * w).sum().clamp(-1, 1)
            if j == labels[i]:
                theta = torch.acos(c.clamp(-1 + 1e-7, 1 - 1e-7))
                if easy:
                    c = torch.cos(theta + m) if c > 0 else c
                elif theta + m <= math.pi:
                    c = torch.cos(theta + m)
                else:
                    c = c - fallback
            row.append(s * c)
        rows.append(torch.stack(row))
    return torch.stack(rows)


def reference_loss(logits, labels):
    return torch.stack([torch.logsumexp(logits[i], 0) - logits[i, labels[i]]
                        for i in range(len(labels))]).mean()


@pytest.mark.parametrize("easy", [False, True])
def test_arcface_matches_per_sample_loop_with_gradients(easy):
    torch.manual_seed(0)
    cfg = ArcFaceConfig(num_classes=7, embedding_size=5, easy_margin=easy)
    head = ArcFace(cfg).double()
    emb = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 3, 6, 2, 3, 1])
    out = head(emb, labels)
    out.loss.backward()
    g_emb, g_w = emb.grad.clone(), head.weight.grad.clone()

    emb2 = emb.detach().clone().requires_grad_(True)
    w2 = head.weight.detach().clone().requires_grad_(True)
    ref = reference_logits(emb2, w2, labels, 64.0, 0.5, easy)
    ref_loss = reference_loss(ref, labels)
    ref_loss.backward()
    torch.testing.assert_close(out.logits.double(), ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.loss.double(), ref_loss, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(g_emb, emb2.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(g_w.double(), w2.grad, rtol=1e-4, atol=1e-6)


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
    emb = head.weight.detach()[:2].clone().requires_grad_(True)  # cos θ_y = 1 exactly
    head(emb, torch.tensor([0, 1])).loss.backward()
    assert torch.isfinite(emb.grad).all() and torch.isfinite(head.weight.grad).all()


def test_arcface_contract_and_build_validates_keywords():
    check_head(facex_core.build("head", "arcface", num_classes=10, embedding_size=8))
    with pytest.raises(facex_core.ConfigError, match="head.margin"):
        facex_core.build("head", "arcface", num_classes=10, margin="big")
    with pytest.raises(facex_core.ConfigError, match="head.marginn: unknown key"):
        facex_core.build("head", "arcface", num_classes=10, marginn=0.5)


def test_subcenter_arcface_uses_max_over_three_subcentres():
    head = facex_core.build("head", "subcenter_arcface", num_classes=4, embedding_size=6)
    assert head.weight.shape == (4, 3, 6)
    check_head(head)
    torch.manual_seed(0)
    emb = torch.randn(5, 6, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 3, 1])
    head = head.double()
    out = head(emb, labels)
    # reference: collapse each class to its best sub-centre per sample, then the ArcFace loop
    w = head.weight.detach()
    rows = []
    for i in range(5):
        x = emb[i] / emb[i].norm()
        best = [max(range(3), key=lambda k: float((x * w[c, k] / w[c, k].norm()).sum())) for c in range(4)]
        rows.append(reference_logits(emb[i:i + 1], torch.stack([w[c, best[c]] for c in range(4)]),
                                     labels[i:i + 1], 64.0, 0.5))
    torch.testing.assert_close(out.logits.double(), torch.cat(rows), rtol=1e-5, atol=1e-5)
