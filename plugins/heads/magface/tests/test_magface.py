import functools
import math

import pytest
import torch

import facex_core
from facex_core.testing import (assert_light_module, check_head, check_head_autocast, check_head_matches_reference,
                                check_head_partial_fc, check_head_sharded, reference_cosines, reference_cross_entropy)
from facex_head_magface.magface import MagFace
from facex_head_magface.plugin import MagFaceConfig

L_A, U_A, L_M, U_M = 10.0, 110.0, 0.45, 0.8


def reference(emb, weight, labels, s=64.0, lam=35.0, easy=True):
    """Per-sample loop from the MagFace formula: logits, CE and λ·mean g(a)."""
    cos = reference_cosines(emb, weight)
    logits, g = cos.clone(), []
    for i, y in enumerate(labels.tolist()):
        a = emb[i].norm().clamp(L_A, U_A)
        m = (U_M - L_M) / (U_A - L_A) * (a - L_A) + L_M
        g.append(a / U_A ** 2 + 1 / a)
        theta = torch.acos(cos[i, y].clamp(-1 + 1e-7, 1 - 1e-7))
        with_margin = cos[i, y].item() > 0 if easy else (theta + m).item() <= math.pi
        logits[i, y] = torch.cos(theta + m) if with_margin else cos[i, y]
    logits = s * logits
    return logits, reference_cross_entropy(logits, labels), lam * torch.stack(g).mean()


def embeddings(n=6, dim=8, seed=0):
    """Directions at random, norms spread over and beyond [l_a, u_a] (two are clamped)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.normalize(torch.randn(n, dim, generator=g, dtype=torch.float64), dim=1)
    norms = torch.tensor([5.0, 12.0, 30.0, 64.0, 100.0, 150.0], dtype=torch.float64)[:n]
    return x * norms[:, None]


@pytest.mark.parametrize("easy", [True, False])
def test_magface_matches_per_sample_loop_with_gradients(easy):
    torch.manual_seed(0)
    head = MagFace(MagFaceConfig(num_classes=10, embedding_size=8, easy_margin=easy)).double()
    labels = torch.tensor([0, 3, 9, 2, 3, 7])

    def by_hand(e, params):
        logits, ce, g = reference(e, params["classifier.weight"], labels, easy=easy)
        return {"logits": logits, "loss": ce, "magface_g": g}

    check_head_matches_reference(head, embeddings(), labels, by_hand, extra_tol=(1e-6, 1e-6))


def test_magface_margin_is_linear_in_clamped_norm():
    head = MagFace(MagFaceConfig(num_classes=2, embedding_size=2))
    a = torch.tensor([1.0, 10.0, 60.0, 110.0, 500.0])
    m = head.margin(a.clamp(L_A, U_A))
    torch.testing.assert_close(m, torch.tensor([0.45, 0.45, 0.625, 0.8, 0.8]))


def test_magface_regulariser_is_weighted_scalar_and_pushes_norms_up():
    head = facex_core.build("head", "magface", num_classes=4, embedding_size=3)
    emb = torch.tensor([[20.0, 0.0, 0.0], [0.0, 50.0, 0.0]], requires_grad=True)
    out = head(emb, torch.tensor([0, 1]))
    g = out.extra_losses["magface_g"]
    assert g.dim() == 0
    assert g.item() == pytest.approx(35.0 * ((20 / 110 ** 2 + 1 / 20) + (50 / 110 ** 2 + 1 / 50)) / 2, rel=1e-6)
    (grad,) = torch.autograd.grad(g, emb)
    assert grad[0, 0] < 0 and grad[1, 1] < 0  # g decreases as the norm grows below u_a


def test_magface_contract_and_finite_gradient_at_alignment():
    assert_light_module("facex_head_magface.plugin")
    check_head(facex_core.build("head", "magface", num_classes=10, embedding_size=8))
    head = MagFace(MagFaceConfig(num_classes=3, embedding_size=4))
    emb = (head.weight.detach()[:2] * 1000).clone().requires_grad_(True)  # cos θ_y = 1 exactly
    head(emb, torch.tensor([0, 1])).total_loss.backward()
    assert torch.isfinite(emb.grad).all() and torch.isfinite(head.weight.grad).all()


def test_magface_bf16_autocast_and_partial_fc():
    torch.manual_seed(0)
    # a norm range around the helpers' unit-variance embeddings, so margin and regulariser see unclamped norms
    check_head_autocast(facex_core.build("head", "magface", num_classes=10, embedding_size=8,
                                         lower_norm=1.0, upper_norm=10.0))
    check_head_partial_fc(facex_core.build("head", "magface", num_classes=10, embedding_size=8,
                                           classifier={"sample_rate": 0.5}), batch=4)


def test_magface_sharded_over_two_gloo_ranks_equals_single_process():
    """Every rank computes the regulariser from the gathered norms; its gradient counts once (norms in range)."""
    check_head_sharded(functools.partial(facex_core.build, "head", "magface", num_classes=11, embedding_size=6,
                                         lower_norm=2.0, upper_norm=12.0, scale=16.0), rtol=5e-6)


@pytest.mark.parametrize("field, bad", [
    ("scale", 0.0), ("lower_norm", 0.0), ("upper_norm", -1.0), ("lower_margin", -0.1),
    ("upper_margin", 2.0), ("lambda_g", -1.0), ("fallback_margin", 1.5)
])
def test_settings_outside_their_declared_range_are_refused(field, bad):
    # the ranges of the paper's parameters, declared with option(ge=/gt=/le=/lt=)
    with pytest.raises(facex_core.ConfigError, match=rf"head.{field}:? must be"):
        facex_core.build("head", "magface", num_classes=10, embedding_size=8, **{field: bad})
