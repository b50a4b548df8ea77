import functools
import math

import pytest
import torch

import facex_core
from facex_core.testing import (assert_light_module, check_head, check_head_at_alignment, check_head_autocast,
                                check_head_matches_reference, check_head_partial_fc, check_head_sharded,
                                reference_cosines, reference_cross_entropy)
from facex_head_npcface.npcface import NPCFace
from facex_head_npcface.plugin import NPCFaceConfig


def reference_logits(emb, weight, labels, s=64.0, m=0.5, m0=0.4, m1=0.2, t=1.1, a=0.2):
    """Per-sample loop from the NPCFace formula: hard mask, collaborative margin, t·cos + a."""
    cos = reference_cosines(emb, weight)
    logits = torch.empty_like(cos)
    for i, y in enumerate(labels.tolist()):
        theta_y = torch.acos(cos[i, y].clamp(-1 + 1e-7, 1 - 1e-7))
        boundary = math.cos(theta_y.item() + m)
        hard = [j for j in range(cos.shape[1]) if j != y and cos[i, j].item() > boundary]
        mean_hard = sum(cos[i, j].item() for j in hard) / max(1, len(hard))
        margin = m0 + m1 * mean_hard  # a constant for the gradient, as in the reference
        for j, c in enumerate(cos[i]):
            if j == y:
                logits[i, j] = torch.cos(theta_y + margin) if c.item() > 0 else c
            else:
                logits[i, j] = t * c + a if j in hard else c
    return s * logits


def near_own_centres(head, labels, noise=0.6, seed=0):
    """Embeddings near their class centres: most targets have cos θ_y > 0 and hard negatives exist."""
    g = torch.Generator().manual_seed(seed)
    w = torch.nn.functional.normalize(head.weight.detach().double(), dim=-1)
    return (w[labels] + noise * torch.randn(len(labels), w.shape[1], generator=g, dtype=torch.float64)) * 3.0


def test_npcface_matches_per_sample_loop_with_gradients():
    torch.manual_seed(0)
    head = NPCFace(NPCFaceConfig(num_classes=10, embedding_size=8)).double()
    labels = torch.tensor([0, 3, 9, 2, 3, 7])
    emb = near_own_centres(head, labels).requires_grad_(True)
    def reference(e, params):
        logits = reference_logits(e, params["classifier.weight"], labels)
        return {"logits": logits, "loss": reference_cross_entropy(logits, labels)}

    out = check_head_matches_reference(head, emb, labels, reference)
    # the inputs exercise the margin branch and the hard-negative branch
    plain = reference_cosines(emb.detach(), head.weight.detach()).detach()
    own = plain[torch.arange(6), labels]
    assert (own > 0).any() and (own <= 0).any()
    assert torch.isclose(out.logits.detach().double() / 64.0, 1.1 * plain + 0.2, atol=1e-5).any()


def test_npcface_margin_is_m0_without_hard_negatives():
    head = NPCFace(NPCFaceConfig(num_classes=2, embedding_size=2, scale=1.0))
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
    theta = 0.3
    logits = head(torch.tensor([[math.cos(theta), math.sin(theta)]]), torch.tensor([0])).logits
    assert logits[0, 0].item() == pytest.approx(math.cos(theta + 0.4), abs=1e-6)
    assert logits[0, 1].item() == pytest.approx(-math.cos(theta), abs=1e-6)  # not hard: unchanged


def test_npcface_hard_negative_raises_margin_and_is_emphasised():
    head = NPCFace(NPCFaceConfig(num_classes=2, embedding_size=2, scale=1.0))
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    theta = 0.7  # cos θ_1 = sin 0.7 = 0.644 > cos(0.7 + 0.5) = 0.362: hard
    logits = head(torch.tensor([[math.cos(theta), math.sin(theta)]]), torch.tensor([0])).logits
    c1 = math.sin(theta)
    assert logits[0, 0].item() == pytest.approx(math.cos(theta + 0.4 + 0.2 * c1), abs=1e-6)
    assert logits[0, 1].item() == pytest.approx(1.1 * c1 + 0.2, abs=1e-6)


def test_npcface_negative_target_cosine_keeps_plain_cosine():
    head = NPCFace(NPCFaceConfig(num_classes=2, embedding_size=2, scale=1.0))
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    theta = 2.0  # cos θ_y < 0
    logits = head(torch.tensor([[math.cos(theta), math.sin(theta)]]), torch.tensor([0])).logits
    assert logits[0, 0].item() == pytest.approx(math.cos(theta), abs=1e-6)


def test_npcface_contract_on_cpu_and_finite_gradient_at_alignment():
    assert_light_module("facex_head_npcface.plugin")
    check_head(facex_core.build("head", "npcface", num_classes=10, embedding_size=8))
    head = NPCFace(NPCFaceConfig(num_classes=3, embedding_size=4))
    check_head_at_alignment(head)  # cos θ_y = 1 exactly: finite loss and gradients


def test_npcface_bf16_autocast_and_partial_fc():
    torch.manual_seed(0)
    check_head_autocast(facex_core.build("head", "npcface", num_classes=10, embedding_size=8))
    check_head_partial_fc(facex_core.build("head", "npcface", num_classes=10, embedding_size=8,
                                           classifier={"sample_rate": 0.5}), batch=4)


def test_npcface_sharded_over_two_gloo_ranks_equals_single_process():
    """Each rank sums the hard negatives of its own columns; the margin uses the sum over all ranks."""
    check_head_sharded(functools.partial(facex_core.build, "head", "npcface", num_classes=11, embedding_size=6,
                                         scale=16.0), rtol=2e-6)


@pytest.mark.parametrize("field, bad", [
    ("scale", 0.0), ("margin", 2.0), ("m0", -0.1), ("m1", 1.5), ("t", 0.9), ("a", -0.1)
])
def test_settings_outside_their_declared_range_are_refused(field, bad):
    # the ranges of the paper's parameters, declared with option(ge=/gt=/le=/lt=)
    with pytest.raises(facex_core.ConfigError, match=rf"head.{field}:? must be"):
        facex_core.build("head", "npcface", num_classes=10, embedding_size=8, **{field: bad})
