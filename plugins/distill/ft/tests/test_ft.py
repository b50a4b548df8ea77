"""Factor transfer against a per-sample loop from the paper's normalised-factor distance, gradients included."""
import pytest
import torch

import facex_core
from facex_core import ConfigError
from facex_core.testing import assert_light_module, check_distill_loss_matches_reference


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

    check_distill_loss_matches_reference(facex_core.build("distill_loss", "ft", p=p), s, t, reference)


def test_scale_invariant_per_sample():
    loss = facex_core.build("distill_loss", "ft")
    x = torch.randn(2, 3, 2, 2, dtype=torch.float64)
    assert float(loss(3.0 * x, x)) == pytest.approx(0.0, abs=1e-12)
