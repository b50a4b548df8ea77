"""FitNets hint against a per-sample loop from the paper's Eq. (3), gradients included."""
import pytest
import torch

import facex_core
from facex_core.testing import assert_light_module, check_distill_loss_matches_reference


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

    check_distill_loss_matches_reference(facex_core.build("distill_loss", "fitnet"), s, t, reference)


def test_shape_mismatch_asks_for_an_adapter():
    with pytest.raises(ValueError, match="adapter"):
        facex_core.build("distill_loss", "fitnet")(torch.randn(2, 3, 4, 4), torch.randn(2, 5, 4, 4))
