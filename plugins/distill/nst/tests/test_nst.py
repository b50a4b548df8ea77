"""Neuron selectivity transfer against a per-sample loop from the paper's squared MMD, gradients included."""
import pytest
import torch

import facex_core
from facex_core.testing import assert_light_module, check_distill_loss_matches_reference


def test_registration_is_light_and_channel_counts_may_differ():
    assert_light_module("facex_distill_nst.plugin")
    loss = facex_core.build("distill_loss", "nst")
    assert loss.takes == "feature_map" and loss.match_channels is False


def test_matches_per_sample_mmd_with_the_polynomial_kernel():
    torch.manual_seed(4)
    s, t = torch.randn(2, 3, 2, 3, dtype=torch.float64), torch.randn(2, 5, 2, 3, dtype=torch.float64)

    def unit(v):
        return v / torch.sqrt((v ** 2).sum())

    def k(a, b):  # polynomial kernel, d = 2, c = 0
        return (a * b).sum() ** 2

    def reference(s, t):
        total = 0
        for n in range(s.shape[0]):
            fs = [unit(s[n, j].reshape(-1)) for j in range(s.shape[1])]
            ft = [unit(t[n, i].reshape(-1)) for i in range(t.shape[1])]
            cs, ct = len(fs), len(ft)
            total = total + (sum(k(a, b) for a in ft for b in ft) / ct ** 2
                             + sum(k(a, b) for a in fs for b in fs) / cs ** 2
                             - 2 * sum(k(a, b) for a in fs for b in ft) / (cs * ct))
        return total / s.shape[0]

    check_distill_loss_matches_reference(facex_core.build("distill_loss", "nst"), s, t, reference)


def test_spatial_mismatch_is_refused():
    with pytest.raises(ValueError, match="spatial"):
        facex_core.build("distill_loss", "nst")(torch.randn(2, 3, 4, 4), torch.randn(2, 3, 2, 2))
