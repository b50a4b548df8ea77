"""FSP against a per-sample loop from the paper's Eq. (1)–(2), gradients included."""
import pytest
import torch

import facex_core
from facex_core.testing import assert_light_module, check_distill_loss_matches_reference


def block_mean(m, h, w):
    """Average-pool one C×H×W map to h×w by averaging equal blocks (H, W multiples of h, w)."""
    c, big_h, big_w = m.shape
    fh, fw = big_h // h, big_w // w
    return torch.stack([torch.stack([torch.stack([m[k, y * fh:(y + 1) * fh, x * fw:(x + 1) * fw].mean()
                                                  for x in range(w)]) for y in range(h)]) for k in range(c)])


def gram(f1, f2):
    """Eq. (1): G_ij = Σ_s Σ_t F1_{s,t,i} F2_{s,t,j} / (h·w), the larger map pooled to the smaller."""
    h, w = min(f1.shape[1], f2.shape[1]), min(f1.shape[2], f2.shape[2])
    f1 = block_mean(f1, h, w) if f1.shape[1:] != (h, w) else f1
    f2 = block_mean(f2, h, w) if f2.shape[1:] != (h, w) else f2
    return torch.stack([torch.stack([sum(f1[i, y, x] * f2[j, y, x] for y in range(h) for x in range(w)) / (h * w)
                                     for j in range(f2.shape[0])]) for i in range(f1.shape[0])])


def reference(s, t):
    """Eq. (2) with equal λ_i = 1/(k−1), squared norm averaged over the matrix entries, mean over samples."""
    pairs, n = len(s) - 1, s[0].shape[0]
    total = 0
    for x in range(n):
        for i in range(pairs):
            d = gram(t[i][x], t[i + 1][x]) - gram(s[i][x], s[i + 1][x])
            total = total + (d ** 2).sum() / d.numel() / pairs
    return total / n


def test_registration_is_light_and_takes_a_sequence_of_maps():
    assert_light_module("facex_distill_fsp.plugin")
    loss = facex_core.build("distill_loss", "fsp")
    assert loss.takes == "feature_maps" and loss.match_size is False


def test_matches_per_sample_fsp_matrices_over_consecutive_pairs():
    torch.manual_seed(5)
    double = dict(dtype=torch.float64)
    # three taps: 4×4 then 2×2 then 2×2 maps; the teacher's first map is larger (pooled on its side only)
    s = [torch.randn(2, 3, 4, 4, **double), torch.randn(2, 2, 2, 2, **double), torch.randn(2, 2, 2, 2, **double)]
    t = [torch.randn(2, 3, 8, 8, **double), torch.randn(2, 2, 4, 4, **double), torch.randn(2, 2, 2, 2, **double)]
    check_distill_loss_matches_reference(facex_core.build("distill_loss", "fsp"), s, t, reference)


def test_needs_two_maps_and_matching_channels():
    loss = facex_core.build("distill_loss", "fsp")
    with pytest.raises(ValueError, match=">= 2"):
        loss([torch.randn(2, 3, 4, 4)], [torch.randn(2, 3, 4, 4)])
    with pytest.raises(ValueError, match="channels must agree"):
        loss([torch.randn(2, 3, 4, 4)] * 2, [torch.randn(2, 5, 4, 4)] * 2)
