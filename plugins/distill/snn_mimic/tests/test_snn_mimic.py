"""SNN-MIMIC against a per-sample loop from the paper's L2 logit regression, gradients included."""
import pytest
import torch

import facex_core
from facex_core.testing import assert_light_module


def check_matches_reference(loss, student, teacher, reference, rtol=1e-7, atol=1e-9, **kwargs):
    """``loss(student, teacher)`` equals ``reference(student, teacher)`` (a per-sample loop from the
    paper's formula) in value and in the gradient of every student input; the teacher gets none."""
    def leaves(x):
        if isinstance(x, (list, tuple)):
            return [v.detach().clone().requires_grad_(True) for v in x]
        return x.detach().clone().requires_grad_(True)

    def grads(x):
        return [v.grad for v in x] if isinstance(x, list) else [x.grad]

    s1, t1, s2, t2 = leaves(student), leaves(teacher), leaves(student), leaves(teacher)
    value = loss(s1, t1, **kwargs)
    assert value.dim() == 0 and torch.isfinite(value)
    value.backward()
    expected = reference(s2, t2)
    expected.backward()
    torch.testing.assert_close(value.detach(), expected.detach(), rtol=rtol, atol=atol)
    for got, want in zip(grads(s1), grads(s2)):
        assert got is not None and float(got.abs().sum()) > 0, "no gradient reached the student"
        torch.testing.assert_close(got, want, rtol=max(rtol, 1e-6), atol=max(atol, 1e-9))
    assert all(g is None for g in grads(t1)), "the teacher side must not receive gradients"
    return value


def test_registration_is_light_and_builds_by_name():
    assert_light_module("facex_distill_snn_mimic.plugin")
    loss = facex_core.build("distill_loss", "snn_mimic")
    assert isinstance(loss, facex_core.DistillLoss) and loss.takes == "logits"


def test_matches_per_sample_l2_regression():
    torch.manual_seed(0)
    s, t = torch.randn(5, 7, dtype=torch.float64), torch.randn(5, 7, dtype=torch.float64)

    def reference(s, t):  # 1/N Σ_i ‖s_i − t_i‖² / C: the paper's ½‖·‖² per sample, times 2/C
        return sum(((s[i] - t[i]) ** 2).sum() / s.shape[1] for i in range(s.shape[0])) / s.shape[0]

    check_matches_reference(facex_core.build("distill_loss", "snn_mimic"), s, t, reference)


def test_zero_when_equal_and_shape_mismatch_is_refused():
    loss = facex_core.build("distill_loss", "snn_mimic")
    x = torch.randn(3, 4)
    assert float(loss(x, x)) == 0.0
    with pytest.raises(ValueError, match="differ in shape"):
        loss(x, torch.randn(3, 5))
