"""PKT against a per-sample loop from the paper's conditional probabilities, gradients included."""
import pytest
import torch

import facex_core
from facex_core.testing import assert_light_module, check_distill_loss_matches_reference
from facex_distill_pkt.pkt import EPS


def kernel(a, b):
    """Cosine-similarity kernel K(a, b) = ½(aᵀb / (‖a‖‖b‖) + 1)."""
    return 0.5 * ((a * b).sum() / torch.sqrt((a * a).sum() * (b * b).sum()) + 1.0)


def reference(s, t):
    n = s.shape[0]
    total = 0
    for i in range(n):
        others = [j for j in range(n) if j != i]
        zt = sum(kernel(t[k], t[i]) for k in others)
        zs = sum(kernel(s[k], s[i]) for k in others)
        for j in others:
            p, q = kernel(t[j], t[i]) / zt, kernel(s[j], s[i]) / zs
            total = total + p * torch.log((p + EPS) / (q + EPS))
    return total / n


def test_registration_is_light_and_sizes_may_differ():
    assert_light_module("facex_distill_pkt.plugin")
    loss = facex_core.build("distill_loss", "pkt")
    assert loss.takes == "embeddings" and loss.match_channels is False


def test_matches_per_sample_kl_of_neighbour_distributions():
    torch.manual_seed(6)
    s, t = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 7, dtype=torch.float64)
    check_distill_loss_matches_reference(facex_core.build("distill_loss", "pkt"), s, t, reference, rtol=1e-6)


def test_zero_for_the_same_geometry_and_small_batches_refused():
    loss = facex_core.build("distill_loss", "pkt")
    x = torch.randn(6, 3, dtype=torch.float64)
    rotation = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64))[0]
    assert float(loss(2.0 * x @ rotation, x)) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match=">= 3"):
        loss(x[:2], x[:2])
