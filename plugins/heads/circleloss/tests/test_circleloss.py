import pytest
import torch

import facex_core
from facex_core.testing import (assert_light_module, check_head, check_head_autocast, check_head_matches_reference,
                                check_head_partial_fc, reference_cosines)
from facex_head_circleloss.circleloss import CircleLoss
from facex_head_circleloss.plugin import CircleLossConfig


def reference_logits(emb, weight, labels, m, gamma):
    """Per-sample loop: γ·α_p·(s_p − Δ_p) for the own class, γ·α_n·(s_n − Δ_n) for the others, α constant."""
    cos = reference_cosines(emb, weight)
    logits = torch.empty_like(cos)
    for i, y in enumerate(labels.tolist()):
        for j, s in enumerate(cos[i]):
            if j == y:
                alpha = max(0.0, 1 + m - float(s.detach()))  # [O_p − s_p]₊
                logits[i, j] = gamma * alpha * (s - (1 - m))
            else:
                alpha = max(0.0, float(s.detach()) + m)  # [s_n − O_n]₊
                logits[i, j] = gamma * alpha * (s - m)
    return logits


def paper_loss(logits, labels):
    """The paper's form log[1 + Σ_j exp(z_j) · exp(−z_y)] (not a cross-entropy call)."""
    losses = []
    for i, y in enumerate(labels.tolist()):
        others = sum(torch.exp(logits[i, j] - logits[i, y]) for j in range(logits.shape[1]) if j != y)
        losses.append(torch.log1p(others))
    return torch.stack(losses).mean()


def make_head(c=10, d=8, **kw):
    return CircleLoss(CircleLossConfig(num_classes=c, embedding_size=d, **kw))


@pytest.mark.parametrize("gamma", [256.0, 16.0])
def test_matches_per_sample_loop_with_gradients(gamma):
    torch.manual_seed(0)
    head = make_head(gamma=gamma).double()
    emb = torch.randn(6, 8, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 3, 9, 2, 3, 1])

    def reference(e, params):
        logits = reference_logits(e, params["classifier.weight"], labels, 0.25, gamma)
        return {"logits": logits, "loss": paper_loss(logits, labels)}

    check_head_matches_reference(head, emb, labels, reference, logits_tol=(1e-5, gamma * 1e-6),
                                 loss_tol=(1e-5, gamma * 1e-7), grad_tol=(1e-4, gamma * 1e-7))


def test_paper_defaults():
    cfg = facex_core.component_config("head", "circleloss", {"num_classes": 5})[1]
    assert (cfg.margin, cfg.gamma) == (0.25, 256.0)


def test_self_paced_weights_at_known_cosines():
    """A negative at its optimum O_n = −m gets α_n = 0; a positive at s_p = 1 gets α_p = m."""
    head = make_head(c=2, d=2, gamma=1.0)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [-0.25, (1 - 0.25 ** 2) ** 0.5]]))
    emb = torch.tensor([[1.0, 0.0]])  # cos to class 1 is exactly −m
    logits = head(emb, torch.tensor([0])).logits.detach()
    assert float(logits[0, 1]) == pytest.approx(0.0, abs=1e-6)
    assert float(logits[0, 0]) == pytest.approx(0.25 * (1 - 0.75), abs=1e-6)


def test_contract_registration_bf16_autocast_and_partial_fc():
    assert_light_module("facex_head_circleloss.plugin")
    head = facex_core.build("head", "circleloss", num_classes=10, embedding_size=8)
    assert isinstance(head, CircleLoss)
    check_head(head)
    torch.manual_seed(0)
    check_head_autocast(make_head())
    check_head_partial_fc(make_head(classifier=facex_core.ClassifierConfig(sample_rate=0.5)), batch=4)


@pytest.mark.parametrize("field, bad", [
    ("margin", -0.1), ("margin", 0.5), ("gamma", 0.0)
])
def test_settings_outside_their_declared_range_are_refused(field, bad):
    # the ranges of the paper's parameters, declared with option(ge=/gt=/le=/lt=)
    with pytest.raises(facex_core.ConfigError, match=rf"head.{field}:? must be"):
        facex_core.build("head", "circleloss", num_classes=10, embedding_size=8, **{field: bad})
