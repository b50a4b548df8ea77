import functools

import pytest
import torch

import facex_core
from facex_core.testing import (assert_light_module, check_head, check_head_autocast, check_head_matches_reference,
                                check_head_sharded, reference_cosines, reference_cross_entropy)
from facex_head_adam_softmax.adam_softmax import AdaMSoftmax
from facex_head_adam_softmax.plugin import AdaMSoftmaxConfig


def reference_losses(emb, weight, margins, labels, s, lam):
    """Per-sample loop from the formula: s·(cos θ_y − m_y) for the own class, s·cos θ_j otherwise;
    then the cross-entropy and the regulariser λ·(1 − mean_j m_j), margins clamped to [0, 1]."""
    cos = reference_cosines(emb, weight)
    logits = cos.clone()
    for i, y in enumerate(labels.tolist()):
        logits[i, y] = cos[i, y] - margins[y].clamp(0, 1)
    logits = s * logits
    regulariser = lam * (1 - sum(m.clamp(0, 1) for m in margins) / len(margins))
    return logits, reference_cross_entropy(logits, labels), regulariser


def make_head(c=10, d=8, **kw):
    return AdaMSoftmax(AdaMSoftmaxConfig(num_classes=c, embedding_size=d, **kw))


def test_margins_are_one_learnable_parameter_per_class_initialised_in_range():
    torch.manual_seed(0)
    head = make_head(c=1000)
    assert isinstance(head.margins, torch.nn.Parameter) and head.margins.shape == (1000,)
    m = head.margins.detach()
    assert float(m.min()) >= 0.3 and float(m.max()) <= 0.4
    assert "margins" in head.state_dict()


def test_matches_per_sample_loop_with_gradients_for_embeddings_centres_and_margins():
    torch.manual_seed(0)
    head = make_head().double()
    emb = torch.randn(6, 8, dtype=torch.float64)
    labels = torch.tensor([0, 3, 9, 2, 3, 1])

    def reference(e, params):
        logits, ce, reg = reference_losses(e, params["classifier.weight"], params["margins"], labels, 30.0, 70.0)
        return {"logits": logits, "loss": ce, "margin": reg}

    check_head_matches_reference(head, emb, labels, reference, extra_tol=(1e-6, 1e-6))


def test_training_projects_margins_into_unit_interval_and_eval_only_clamps():
    torch.manual_seed(1)
    head = make_head()
    raw = torch.tensor([-0.5, 1.5, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 2.0])
    emb, labels = torch.randn(4, 8), torch.tensor([0, 1, 9, 2])
    with torch.no_grad():
        head.margins.copy_(raw)
    head.eval()
    evaluated = head(emb, labels)
    assert torch.equal(head.margins.detach(), raw)  # eval leaves the parameter alone
    head.train()
    trained = head(emb, labels)
    assert torch.equal(head.margins.detach(), raw.clamp(0, 1))
    torch.testing.assert_close(evaluated.logits, trained.logits)
    torch.testing.assert_close(evaluated.extra_losses["margin"], trained.extra_losses["margin"])
    cos_0 = float(reference_cosines(emb[:1], head.weight.detach()[:1]))  # label 0's raw margin −0.5 projects to 0
    assert float(trained.logits.detach()[0, 0]) == pytest.approx(30.0 * (cos_0 - 0.0), abs=1e-4)  # m_0 = 0


def test_two_forwards_before_one_backward_are_allowed():
    head = make_head()
    emb, labels = torch.randn(4, 8), torch.tensor([0, 1, 2, 3])
    first, second = head(emb, labels), head(emb, labels)
    (first.total_loss + second.total_loss).backward()
    assert torch.isfinite(head.margins.grad).all()


def test_regulariser_pulls_every_margin_up_and_ce_pulls_used_ones_down():
    torch.manual_seed(2)
    head = make_head()
    out = head(torch.randn(4, 8), torch.tensor([0, 0, 1, 2]))
    out.extra_losses["margin"].backward(retain_graph=True)
    torch.testing.assert_close(head.margins.grad, torch.full((10,), -70.0 / 10))
    head.margins.grad = None
    out.loss.backward()
    g = head.margins.grad
    assert (g[:3] > 0).all() and (g[3:] == 0).all()


def test_partial_fc_uses_the_margin_of_each_samples_global_class():
    torch.manual_seed(3)
    head = make_head(classifier=facex_core.ClassifierConfig(sample_rate=0.5))
    with torch.no_grad():
        head.margins.copy_(torch.linspace(0.05, 0.95, 10))
    emb, labels = torch.randn(6, 8, requires_grad=True), torch.tensor([0, 0, 3, 3, 7, 7])
    out = head(emb, labels)
    out.total_loss.backward()
    assert out.logits.shape == (6, 5) and torch.isfinite(out.loss) and torch.isfinite(emb.grad).all()
    cos_y = reference_cosines(emb.detach(), head.weight.detach())[torch.arange(6), labels]
    expected = 30.0 * (cos_y - head.margins.detach()[labels].double())
    torch.testing.assert_close(out.logits.detach()[torch.arange(6), out.targets].double(), expected, rtol=0, atol=1e-4)


def test_contract_registration_and_bf16_autocast():
    assert_light_module("facex_head_adam_softmax.plugin")
    head = facex_core.build("head", "adam_softmax", num_classes=10, embedding_size=8)
    assert isinstance(head, AdaMSoftmax)
    check_head(head)
    assert head.margins.grad is not None and torch.isfinite(head.margins.grad).all()
    fresh = make_head()
    check_head_autocast(fresh)
    assert fresh.margins.grad is not None  # checked finite by check_head_autocast


def test_sharded_over_two_gloo_ranks_equals_single_process():
    """Margins are sharded like the centres and the regulariser sums them over the ranks: same losses and
    gradients (centres, margins, embeddings) as one process."""
    check_head_sharded(functools.partial(facex_core.build, "head", "adam_softmax", num_classes=11,
                                         embedding_size=6, scale=16.0), rtol=5e-6)


@pytest.mark.parametrize("field, bad", [
    ("scale", -1.0), ("margin_loss_weight", -1.0), ("init_margin_low", -0.1), ("init_margin_high", 1.5)
])
def test_settings_outside_their_declared_range_are_refused(field, bad):
    # the ranges of the paper's parameters, declared with option(ge=/gt=/le=/lt=)
    with pytest.raises(facex_core.ConfigError, match=rf"head.{field}:? must be"):
        facex_core.build("head", "adam_softmax", num_classes=10, embedding_size=8, **{field: bad})
