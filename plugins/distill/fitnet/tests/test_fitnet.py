"""FitNets hint against a per-sample loop from the paper's Eq. (3), gradients included."""
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


def test_registration_is_light_and_takes_a_feature_map():
    assert_light_module("facex_distill_fitnet.plugin")
    assert facex_core.build("distill_loss", "fitnet").takes == "feature_map"


def test_matches_per_sample_hint_loss():
    torch.manual_seed(2)
    s, t = torch.randn(3, 4, 5, 6, dtype=torch.float64), torch.randn(3, 4, 5, 6, dtype=torch.float64)

    def reference(s, t):  # 1/N Σ_n ½‖u_h − r(v_g)‖² · 2/(C·H·W)
        n, c, h, w = s.shape
        total = 0
        for i in range(n):
            sq = sum((s[i, k, y, x] - t[i, k, y, x]) ** 2 for k in range(c) for y in range(h) for x in range(w))
            total = total + 0.5 * sq * 2 / (c * h * w)
        return total / n

    check_matches_reference(facex_core.build("distill_loss", "fitnet"), s, t, reference)


def test_shape_mismatch_asks_for_an_adapter():
    with pytest.raises(ValueError, match="adapter"):
        facex_core.build("distill_loss", "fitnet")(torch.randn(2, 3, 4, 4), torch.randn(2, 5, 4, 4))
