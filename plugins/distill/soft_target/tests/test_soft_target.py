"""Soft targets against a per-sample loop from Hinton et al.'s tempered softmax, gradients included."""

import pytest
import torch

import facex_core
from facex_core import ConfigError
from facex_core.testing import assert_light_module, check_distill_loss_matches_reference


def tempered(z, T):
    """Hinton et al. Eq. (1), q_i = exp(z_i/T) / Σ_j exp(z_j/T), written out for one sample."""
    e = [torch.exp(z[c] / T) for c in range(z.shape[0])]
    total = sum(e)
    return [v / total for v in e]


def reference(T):
    def kd(s, t):  # T² · 1/N Σ_n Σ_c p_c log(p_c / q_c)
        out = 0
        for n in range(s.shape[0]):
            p, q = tempered(t[n], T), tempered(s[n], T)
            out = out + sum(p[c] * torch.log(p[c] / q[c]) for c in range(s.shape[1]))
        return T * T * out / s.shape[0]
    return kd


def test_registration_is_light_defaults_to_t4_and_builds_by_name():
    assert_light_module("facex_distill_soft_target.plugin")
    loss = facex_core.build("distill_loss", "soft_target")
    assert loss.takes == "logits" and loss.T == 4.0
    with pytest.raises(ConfigError, match="T: must be > 0"):
        facex_core.build("distill_loss", "soft_target", T=0.0)


@pytest.mark.parametrize("T", [1.0, 4.0])
def test_matches_per_sample_tempered_kl(T):
    torch.manual_seed(1)
    s, t = 3 * torch.randn(4, 6, dtype=torch.float64), 3 * torch.randn(4, 6, dtype=torch.float64)
    check_distill_loss_matches_reference(facex_core.build("distill_loss", "soft_target", T=T), s, t, reference(T))


def test_zero_when_the_distributions_agree_and_shift_invariant():
    loss = facex_core.build("distill_loss", "soft_target")
    z = torch.randn(3, 5, dtype=torch.float64)
    assert float(loss(z, z)) == pytest.approx(0.0, abs=1e-12)
    assert float(loss(z + 2.0, z)) == pytest.approx(0.0, abs=1e-12)  # softmax ignores a per-row shift
    with pytest.raises(ValueError, match="differ in shape"):
        loss(z, torch.randn(3, 6))
