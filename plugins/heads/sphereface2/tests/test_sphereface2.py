import math

import pytest
import torch
import torch.nn.functional as F

import facex_core
from facex_core.testing import (assert_light_module, check_head, check_head_at_alignment, check_head_autocast,
                                check_head_matches_reference, check_head_sharded, reference_cosines)
from facex_head_sphereface2.plugin import SphereFace2Config
from facex_head_sphereface2.sphereface2 import SphereFace2, initial_bias

LAM, R, M, T, LW = 0.7, 40.0, 0.4, 3.0, 50.0


def reference_loss(emb, weight, bias, labels, columns=None, detach=True):
    """Per-pair loop from the SphereFace2-C formula over the given centre rows (all when None)."""
    columns = list(range(weight.shape[0])) if columns is None else columns
    cos = reference_cosines(emb, weight)
    total = 0.0
    for i, y in enumerate(labels.tolist()):
        for j in columns:
            c = cos[i, j]
            own = j == y
            adjusted = 2 * ((c + 1) / 2) ** T - 1 + (-M if own else M)
            if detach:  # opensphere: the adjustment is a shift without gradient
                adjusted = c + (adjusted - c).detach()
            z = R * adjusted + bias
            total = total + (LAM * torch.log1p(torch.exp(-z)) if own else (1 - LAM) * torch.log1p(torch.exp(z)))
    return LW / R * total / emb.shape[0]


@pytest.mark.parametrize("detach", [True, False])
def test_sphereface2_matches_per_pair_loop_with_gradients(detach):
    torch.manual_seed(0)
    head = SphereFace2(SphereFace2Config(num_classes=10, embedding_size=8, detach_adjustment=detach)).double()
    labels = torch.tensor([0, 3, 9, 2, 3, 7])
    w = torch.nn.functional.normalize(head.weight.detach(), dim=1)
    emb = (w[labels] + 0.7 * torch.randn(6, 8, dtype=torch.float64)).requires_grad_(True)

    def reference(e, params):
        return {"loss": reference_loss(e, params["classifier.weight"], params["bias"], labels, detach=detach)}

    out = check_head_matches_reference(head, emb, labels, reference, grad_tol=(1e-4, 1e-6))
    assert out.extra_losses == {} and torch.equal(out.targets, labels)


def test_sphereface2_loss_equals_opensphere_weighted_bce_mean():
    torch.manual_seed(1)
    head = facex_core.build("head", "sphereface2", num_classes=10, embedding_size=8)
    emb, labels = torch.randn(6, 8), torch.tensor([0, 3, 9, 2, 3, 7])
    out = head(emb, labels)
    one_hot = F.one_hot(labels, 10).float()
    weight = LW * 10 / R * (LAM * one_hot + (1 - LAM) * (1 - one_hot))
    expected = F.binary_cross_entropy_with_logits(out.logits, one_hot, weight=weight)
    torch.testing.assert_close(out.loss, expected, rtol=1e-5, atol=1e-5)


def test_sphereface2_logits_apply_g_and_margin_around_the_bias():
    head = SphereFace2(SphereFace2Config(num_classes=2, embedding_size=2))
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    theta = 0.6
    logits = head(torch.tensor([[math.cos(theta), math.sin(theta)]]), torch.tensor([0])).logits[0]
    g = lambda z: 2 * ((z + 1) / 2) ** 3 - 1  # noqa: E731
    b = head.bias.item()
    assert logits[0].item() == pytest.approx(R * (g(math.cos(theta)) - M) + b, abs=1e-4)
    assert logits[1].item() == pytest.approx(R * (g(math.sin(theta)) + M) + b, abs=1e-4)


@pytest.mark.parametrize("num_classes", [10, 1000, 85742])
def test_sphereface2_initial_bias_balances_positive_and_negatives_at_cos_zero(num_classes):
    b = initial_bias(num_classes, LAM, R, M, T)
    g0 = 2 * 0.5 ** T - 1
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    d_bias = -LAM * sig(-(R * (g0 - M) + b)) + (1 - LAM) * (num_classes - 1) * sig(R * (g0 + M) + b)
    assert d_bias == pytest.approx(0.0, abs=1e-9)
    head = facex_core.build("head", "sphereface2", num_classes=10, embedding_size=8)
    assert head.bias.item() == pytest.approx(initial_bias(10, LAM, R, M, T), rel=1e-6)


def test_sphereface2_partial_fc_sums_only_the_sampled_columns():
    torch.manual_seed(1)
    head = facex_core.build("head", "sphereface2", num_classes=40, embedding_size=6,
                            classifier={"sample_rate": 0.25})
    emb = torch.randn(6, 6, requires_grad=True)
    labels = torch.tensor([1, 5, 5, 20, 33, 39])
    state = head.classifier.generator.get_state()  # Partial FC draws from its own generator
    out = head(emb, labels)
    head.classifier.generator.set_state(state)
    columns = head.classifier._select(labels).tolist()  # the same draw, to know which columns were used
    assert out.logits.shape == (6, 10) and torch.isfinite(out.loss)
    ref = reference_loss(emb.detach(), head.weight.detach(), head.bias.detach(), labels, columns)
    torch.testing.assert_close(out.loss.detach().double(), ref, rtol=1e-5, atol=1e-5)
    out.loss.backward()
    unused = sorted(set(range(40)) - set(columns))
    assert torch.all(head.weight.grad[unused] == 0) and torch.isfinite(emb.grad).all()


def test_sphereface2_contract_eval_logits_and_finite_gradient_at_alignment():
    assert_light_module("facex_head_sphereface2.plugin")
    check_head(facex_core.build("head", "sphereface2", num_classes=10, embedding_size=8))
    head = SphereFace2(SphereFace2Config(num_classes=3, embedding_size=4, detach_adjustment=False))
    check_head_at_alignment(head)  # cos θ_y = 1 exactly: finite loss and gradients
    with torch.no_grad():
        assert head.eval()(head.weight[:2], torch.tensor([0, 1])).logits.shape == (2, 3)


def test_sphereface2_bf16_autocast_gives_finite_loss_and_gradients():
    torch.manual_seed(0)
    head = facex_core.build("head", "sphereface2", num_classes=10, embedding_size=8)
    check_head_autocast(head)
    assert head.bias.grad is not None  # and finite, checked with every other gradient
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert head(torch.randn(6, 8), torch.arange(6)).loss.dtype == torch.float32


def _eval_forward_gives_the_same_loss(head, inputs, out):
    """Forward hook: a no-grad eval forward (validation, where b gets no gradient hook) gives the same loss."""
    if head.training:
        with torch.no_grad():
            again = head.eval()(*inputs)
        head.train()
        assert again.loss.item() == out.loss.item()


def _sharded_head_checking_eval():
    head = facex_core.build("head", "sphereface2", num_classes=11, embedding_size=6)
    head.register_forward_hook(_eval_forward_gives_the_same_loss)
    return head


def test_sphereface2_sharded_over_two_gloo_ranks_equals_single_process():
    """Each rank sums the pairs of its own columns; the loss is all-reduced and b's gradient summed over the
    ranks, so loss, gradients (b's included) and the eval loss equal one process's."""
    check_head_sharded(_sharded_head_checking_eval, rtol=1e-6)


@pytest.mark.parametrize("field, bad", [
    ("scale", 0.0), ("margin", -0.1), ("margin", 1.5), ("positive_weight", 1.0), ("t", 0.5),
    ("loss_weight", 0.0)
])
def test_settings_outside_their_declared_range_are_refused(field, bad):
    # the ranges of the paper's parameters, declared with option(ge=/gt=/le=/lt=)
    with pytest.raises(facex_core.ConfigError, match=rf"head.{field}:? must be"):
        facex_core.build("head", "sphereface2", num_classes=10, embedding_size=8, **{field: bad})
