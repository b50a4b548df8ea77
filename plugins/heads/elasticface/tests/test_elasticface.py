import math

import pytest
import torch

import facex_core
from facex_core.testing import (assert_light_module, check_head, check_head_at_alignment, check_head_autocast,
                                check_head_matches_reference, check_head_partial_fc, reference_cosines,
                                reference_cross_entropy)

VARIANTS = {  # name: (arc?, m, σ, plus)
    "elasticface_arc": (True, 0.5, 0.05, False),
    "elasticface_arc_plus": (True, 0.5, 0.0175, True),
    "elasticface_cos": (False, 0.35, 0.05, False),
    "elasticface_cos_plus": (False, 0.35, 0.02, True),
}


def reference_logits(emb, weight, labels, margins, arc, s=64.0):
    """Per-sample loop: θ = acos(cos θ_y), target cos(θ + m_i) (Arc) or cos θ_y − m_i (Cos)."""
    cos = reference_cosines(emb, weight)
    logits = cos.clone()
    for i, y in enumerate(labels.tolist()):
        if arc:
            logits[i, y] = torch.cos(torch.acos(cos[i, y].clamp(-1 + 1e-7, 1 - 1e-7)) + margins[i])
        else:
            logits[i, y] = cos[i, y] - margins[i]
    return s * logits


def by_hardness(draws, own_cos):
    """The "+" rule by hand: the sample with the k-th highest cos θ_y gets the k-th smallest draw."""
    ranked = sorted(range(len(own_cos)), key=lambda i: -own_cos[i])
    smallest_first = sorted(draws)
    margins = [0.0] * len(draws)
    for k, i in enumerate(ranked):
        margins[i] = smallest_first[k]
    return margins


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_elasticface_matches_per_sample_loop_with_the_same_draws(name):
    arc, m, sigma, plus = VARIANTS[name]
    torch.manual_seed(0)
    head = facex_core.build("head", name, num_classes=10, embedding_size=8).double()
    assert (head.config.margin, head.config.std, head.config.plus) == (m, sigma, plus)
    labels = torch.tensor([0, 3, 9, 2, 3, 7])
    emb = torch.randn(6, 8, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(123)  # the head's forward makes the same global-RNG draws, in the same order
    draws = torch.normal(m, sigma, size=(6,)).tolist()
    if plus:
        own = reference_cosines(emb.detach(), head.weight.detach())[torch.arange(6), labels]
        draws = by_hardness(draws, own.tolist())

    def reference(e, params):
        logits = reference_logits(e, params["classifier.weight"], labels, draws, arc)
        return {"logits": logits, "loss": reference_cross_entropy(logits, labels)}

    torch.manual_seed(123)
    check_head_matches_reference(head, emb, labels, reference)


def test_elasticface_plus_gives_the_largest_margin_to_the_hardest_sample():
    head = facex_core.build("head", "elasticface_cos_plus", num_classes=2, embedding_size=2, scale=1.0, std=0.1)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    # ranking permutation [1, 3, 0, 2] is not its own inverse, so indexing the sorted draws by it
    # (as the official code does) would hand out the wrong margins here
    angles = torch.tensor([0.9, 0.2, 1.4, 0.5])
    emb = torch.stack([angles.cos(), angles.sin()], 1)
    out = head(emb, torch.zeros(4, dtype=torch.long))
    margins = angles.cos() - out.logits[:, 0].detach()
    assert margins.argsort().tolist() == angles.argsort().tolist()


def test_elasticface_draws_replay_from_the_global_rng_state():
    head = facex_core.build("head", "elasticface_arc", num_classes=10, embedding_size=8)
    emb, labels = torch.randn(6, 8), torch.tensor([0, 3, 9, 2, 3, 7])
    state = torch.get_rng_state()  # what a checkpoint saves
    first = head(emb, labels).logits.detach()
    second = head(emb, labels).logits.detach()
    assert not torch.equal(first, second)  # fresh margins every step
    torch.set_rng_state(state)  # what resume restores
    assert torch.equal(head(emb, labels).logits.detach(), first)


def test_elasticface_eval_uses_the_mean_margin_and_leaves_the_rng_alone():
    head = facex_core.build("head", "elasticface_cos", num_classes=2, embedding_size=2, scale=1.0).eval()
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    state = torch.get_rng_state()
    with torch.no_grad():
        logits = head(torch.tensor([[math.cos(0.3), math.sin(0.3)]]), torch.tensor([0])).logits
    assert torch.equal(torch.get_rng_state(), state)
    assert logits[0, 0].item() == pytest.approx(math.cos(0.3) - 0.35, abs=1e-6)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_elasticface_contract_bf16_and_partial_fc(name):
    check_head(facex_core.build("head", name, num_classes=10, embedding_size=8))
    torch.manual_seed(0)
    check_head_autocast(facex_core.build("head", name, num_classes=10, embedding_size=8))
    check_head_partial_fc(facex_core.build("head", name, num_classes=10, embedding_size=8,
                                           classifier={"sample_rate": 0.5}), batch=4)


def test_registration_module_is_light():
    assert_light_module("facex_head_elasticface.plugin")


def test_elasticface_arc_gradient_finite_at_exact_alignment():
    head = facex_core.build("head", "elasticface_arc_plus", num_classes=3, embedding_size=4)
    check_head_at_alignment(head)  # cos θ_y = 1 exactly: finite loss and gradients


@pytest.mark.parametrize("field, bad", [
    ("scale", 0.0), ("margin", 2.0), ("std", -0.01), ("std", 1.5)
])
def test_settings_outside_their_declared_range_are_refused(field, bad):
    # the ranges of the paper's parameters, declared with option(ge=/gt=/le=/lt=)
    with pytest.raises(facex_core.ConfigError, match=rf"head.{field}:? must be"):
        facex_core.build("head", "elasticface_arc", num_classes=10, embedding_size=8, **{field: bad})
