import math

import pytest
import torch

import facex_core
from facex_core.testing import (assert_light_module, check_head, check_head_at_alignment, check_head_autocast,
                                check_head_matches_reference, check_head_partial_fc, reference_cosines,
                                reference_cross_entropy)
from facex_head_adaface.adaface import AdaFace
from facex_head_adaface.plugin import AdaFaceConfig

M, H, S, ALPHA, EPS = 0.4, 0.333, 64.0, 0.01, 1e-3


def ema(norms, mean=20.0, std=100.0):
    """The statistics after one training step, by hand: α·batch + (1 − α)·old (unbiased batch std)."""
    n = len(norms)
    batch_mean = sum(norms) / n
    batch_std = math.sqrt(sum((a - batch_mean) ** 2 for a in norms) / (n - 1))
    return ALPHA * batch_mean + (1 - ALPHA) * mean, ALPHA * batch_std + (1 - ALPHA) * std


def reference_logits(emb, weight, labels, mean, std):
    """Per-sample loop from the AdaFace formula with the given statistics."""
    cos = reference_cosines(emb, weight)
    logits = cos.clone()
    for i, y in enumerate(labels.tolist()):
        norm = min(max(emb[i].norm().item(), 1e-3), 100.0)  # detached, as in the paper
        z = min(max(H * (norm - mean) / (std + EPS), -1.0), 1.0)
        theta = torch.acos(cos[i, y].clamp(-1 + EPS, 1 - EPS))
        logits[i, y] = torch.cos((theta - M * z).clamp(EPS, math.pi - EPS)) - (M * z + M)
    return S * logits


def embeddings():
    torch.manual_seed(1)
    x = torch.nn.functional.normalize(torch.randn(6, 8, dtype=torch.float64), dim=1)
    return x * torch.tensor([2.0, 15.0, 20.0, 25.0, 60.0, 300.0], dtype=torch.float64)[:, None]


def test_adaface_matches_per_sample_loop_with_gradients():
    torch.manual_seed(0)
    head = AdaFace(AdaFaceConfig(num_classes=10, embedding_size=8)).double()
    # statistics near the batch's, so ẑ spans the clipped and the linear range
    head.batch_mean.fill_(20.0)
    head.batch_std.fill_(15.0)
    labels = torch.tensor([0, 3, 9, 2, 3, 7])
    emb = embeddings()
    norms = [min(n, 100.0) for n in emb.norm(dim=1).tolist()]
    mean, std = ema(norms, 20.0, 15.0)

    def reference(e, params):
        logits = reference_logits(e, params["classifier.weight"], labels, mean, std)
        return {"logits": logits, "loss": reference_cross_entropy(logits, labels)}

    check_head_matches_reference(head, emb, labels, reference)


def test_adaface_statistics_buffers_follow_ema_in_training_only():
    head = facex_core.build("head", "adaface", num_classes=10, embedding_size=8)
    assert {"batch_mean", "batch_std"} <= set(dict(head.named_buffers()))
    emb = embeddings().float()
    labels = torch.tensor([0, 3, 9, 2, 3, 7])
    head.train()
    head(emb, labels)
    mean, std = ema([min(n, 100.0) for n in emb.norm(dim=1).tolist()])
    assert head.batch_mean.item() == pytest.approx(mean, rel=1e-6)
    assert head.batch_std.item() == pytest.approx(std, rel=1e-6)

    head.eval()
    with torch.no_grad():
        head(emb * 3, labels)
    assert head.batch_mean.item() == pytest.approx(mean, rel=1e-6)
    assert head.batch_std.item() == pytest.approx(std, rel=1e-6)

    restored = facex_core.build("head", "adaface", num_classes=10, embedding_size=8)
    restored.load_state_dict(head.state_dict())
    assert restored.batch_mean.item() == head.batch_mean.item()
    assert restored.batch_std.item() == head.batch_std.item()


@pytest.mark.parametrize("norm, expected", [
    (0.5, math.cos(1.0 + M)),            # ẑ = −1 (clipped): ArcFace
    (10.0, math.cos(1.0) - M),           # ẑ = 0: CosFace
    (30.0, math.cos(1.0 - M) - 2 * M),   # ẑ = 1 (clipped): hard samples stressed
])
def test_adaface_target_moves_from_arcface_to_cosface_to_hard_emphasis(norm, expected):
    head = AdaFace(AdaFaceConfig(num_classes=2, embedding_size=2, scale=1.0, eps=1e-9)).eval()
    head.batch_mean.fill_(10.0)
    head.batch_std.fill_(3.0)  # ẑ = h·(norm − 10)/3
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    emb = torch.tensor([[math.cos(1.0), math.sin(1.0)]]) * norm
    logits = head(emb, torch.tensor([0])).logits
    assert logits[0, 0].item() == pytest.approx(expected, abs=1e-5)
    assert logits[0, 1].item() == pytest.approx(math.sin(1.0), abs=1e-6)


def test_adaface_norms_get_no_gradient_from_the_margin():
    head = AdaFace(AdaFaceConfig(num_classes=10, embedding_size=8))
    emb = embeddings().float().requires_grad_(True)
    out = head(emb, torch.tensor([0, 3, 9, 2, 3, 7]))
    (grad,) = torch.autograd.grad(out.loss, emb)
    radial = (grad * torch.nn.functional.normalize(emb.detach(), dim=1)).sum(1)
    torch.testing.assert_close(radial, torch.zeros(6), atol=1e-6, rtol=0)  # only the direction is trained


def test_adaface_contract_and_finite_gradient_at_alignment():
    assert_light_module("facex_head_adaface.plugin")
    check_head(facex_core.build("head", "adaface", num_classes=10, embedding_size=8))
    head = AdaFace(AdaFaceConfig(num_classes=3, embedding_size=4))
    check_head_at_alignment(head)  # cos θ_y = 1 exactly: finite loss and gradients


def test_adaface_single_sample_batch_keeps_std():
    head = AdaFace(AdaFaceConfig(num_classes=3, embedding_size=4))
    out = head(torch.randn(1, 4), torch.tensor([2]))
    assert torch.isfinite(out.loss) and head.batch_std.item() == 100.0


def test_adaface_bf16_autocast_and_partial_fc():
    torch.manual_seed(0)
    head = facex_core.build("head", "adaface", num_classes=10, embedding_size=8)
    check_head_autocast(head)
    assert head.batch_mean.dtype == torch.float32 and torch.isfinite(head.batch_mean) and torch.isfinite(head.batch_std)
    check_head_partial_fc(facex_core.build("head", "adaface", num_classes=10, embedding_size=8,
                                           classifier={"sample_rate": 0.5}), batch=4)


@pytest.mark.parametrize("field, bad", [
    ("scale", 0.0), ("margin", -0.1), ("margin", 1.5), ("h", 0.0), ("momentum", 0.0), ("momentum", 1.5),
    ("eps", 0.0), ("eps", 0.5)
])
def test_settings_outside_their_declared_range_are_refused(field, bad):
    # the ranges of the paper's parameters, declared with option(ge=/gt=/le=/lt=)
    with pytest.raises(facex_core.ConfigError, match=rf"head.{field}:? must be"):
        facex_core.build("head", "adaface", num_classes=10, embedding_size=8, **{field: bad})
