"""RKD against a per-pair / per-triplet loop from the paper's §3.1–3.2, gradients included."""
import itertools

import pytest
import torch

import facex_core
from facex_core.testing import assert_light_module, check_distill_loss_matches_reference


def huber(x, y):
    d = abs(x - y)
    return 0.5 * d ** 2 if d <= 1 else d - 0.5


def dist(a, b):
    return torch.sqrt(((a - b) ** 2).sum())


def reference(wd, wa):
    def rkd(s, t):
        n = s.shape[0]
        pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
        mu_s = sum(dist(s[i], s[j]) for i, j in pairs) / len(pairs)
        mu_t = sum(dist(t[i], t[j]) for i, j in pairs) / len(pairs)
        l_d = sum(huber(dist(s[i], s[j]) / mu_s, dist(t[i], t[j]) / mu_t) for i, j in pairs) / len(pairs)
        triplets = list(itertools.permutations(range(n), 3))

        def angle(x, i, j, k):  # cosine of the angle at vertex j
            e1, e2 = x[i] - x[j], x[k] - x[j]
            return (e1 * e2).sum() / (dist(x[i], x[j]) * dist(x[k], x[j]))

        l_a = sum(huber(angle(s, i, j, k), angle(t, i, j, k)) for i, j, k in triplets) / len(triplets)
        return wd * l_d + wa * l_a
    return rkd


def test_registration_is_light_with_the_issue_weights():
    assert_light_module("facex_distill_rkd.plugin")
    loss = facex_core.build("distill_loss", "rkd")
    assert loss.takes == "embeddings" and (loss.distance_weight, loss.angle_weight) == (25.0, 50.0)


@pytest.mark.parametrize("wd,wa", [(25.0, 50.0), (1.0, 0.0), (0.0, 2.0)])
def test_matches_per_pair_and_triplet_loops(wd, wa):
    torch.manual_seed(7)
    # spread-out teacher so that some distance residuals exceed the Huber threshold
    s, t = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 6, dtype=torch.float64) * torch.tensor([1, 1, 1, 1, 4.0]).double()[:, None]
    check_distill_loss_matches_reference(facex_core.build("distill_loss", "rkd", distance_weight=wd, angle_weight=wa),
                                         s, t, reference(wd, wa), rtol=1e-6)


def test_invariant_to_scale_and_rotation_of_the_teacher():
    loss = facex_core.build("distill_loss", "rkd")
    x = torch.randn(6, 3, dtype=torch.float64)
    rotation = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64))[0]
    assert float(loss(x, 3.0 * x @ rotation)) == pytest.approx(0.0, abs=1e-10)
