"""SNN-MIMIC against a per-sample loop from the paper's L2 logit regression, gradients included."""
import pytest
import torch

import facex_core
from facex_core.testing import assert_light_module, check_distill_loss_matches_reference


def test_registration_is_light_and_builds_by_name():
    assert_light_module("facex_distill_snn_mimic.plugin")
    loss = facex_core.build("distill_loss", "snn_mimic")
    assert isinstance(loss, facex_core.DistillLoss) and loss.takes == "logits"


def test_matches_per_sample_l2_regression():
    torch.manual_seed(0)
    s, t = torch.randn(5, 7, dtype=torch.float64), torch.randn(5, 7, dtype=torch.float64)

    def reference(s, t):  # 1/N Σ_i ‖s_i − t_i‖² / C: the paper's ½‖·‖² per sample, times 2/C
        return sum(((s[i] - t[i]) ** 2).sum() / s.shape[1] for i in range(s.shape[0])) / s.shape[0]

    check_distill_loss_matches_reference(facex_core.build("distill_loss", "snn_mimic"), s, t, reference)


def test_zero_when_equal_and_shape_mismatch_is_refused():
    loss = facex_core.build("distill_loss", "snn_mimic")
    x = torch.randn(3, 4)
    assert float(loss(x, x)) == 0.0
    with pytest.raises(ValueError, match="differ in shape"):
        loss(x, torch.randn(3, 5))
