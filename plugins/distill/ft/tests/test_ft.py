"""Factor transfer against a per-sample loop from the paper's normalised-factor distance, gradients included."""
import pytest
import torch

import facex_core
from facex_core import ConfigError
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


def test_registration_is_light_and_p_is_1_or_2():
    assert_light_module("facex_distill_ft.plugin")
    loss = facex_core.build("distill_loss", "ft")
    assert loss.takes == "feature_map" and loss.p == 1
    with pytest.raises(ConfigError, match="p: must be one of 1, 2"):
        facex_core.build("distill_loss", "ft", p=3)


@pytest.mark.parametrize("p", [1, 2])
def test_matches_per_sample_factor_distance(p):
    torch.manual_seed(3)
    s, t = torch.randn(3, 2, 3, 3, dtype=torch.float64), torch.randn(3, 2, 3, 3, dtype=torch.float64)

    def reference(s, t):  # 1/N Σ_n ‖ F_T/‖F_T‖₂ − F_S/‖F_S‖₂ ‖_p
        total = 0
        for n in range(s.shape[0]):
            fs, ft = s[n].reshape(-1), t[n].reshape(-1)
            fs = fs / torch.sqrt((fs ** 2).sum())
            ft = ft / torch.sqrt((ft ** 2).sum())
            total = total + (sum(abs(a - b) ** p for a, b in zip(ft, fs))) ** (1.0 / p)
        return total / s.shape[0]

    check_matches_reference(facex_core.build("distill_loss", "ft", p=p), s, t, reference)


def test_scale_invariant_per_sample():
    loss = facex_core.build("distill_loss", "ft")
    x = torch.randn(2, 3, 2, 2, dtype=torch.float64)
    assert float(loss(3.0 * x, x)) == pytest.approx(0.0, abs=1e-12)
