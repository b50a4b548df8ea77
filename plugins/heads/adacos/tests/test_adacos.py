import functools
import math

import pytest
import torch

import facex_core
from facex_core.testing import (assert_light_module, check_head, check_head_autocast, check_head_sharded,
                                reference_cosines, reference_cross_entropy)
from facex_head_adacos.adacos import AdaCos
from facex_head_adacos.plugin import AdaCosConfig


def reference_scale(cos, targets, old_scale, num_classes=None):
    """Dynamic AdaCos from the paper, one sample at a time: B_avg over every non-target column, θ_med, s̃.

    ``num_classes`` > cos.shape[1] (Partial FC): the sampled negatives are scaled up to all C − 1."""
    cos = cos.detach().double()
    n, cols = cos.shape
    b_avg = sum(math.exp(old_scale * float(cos[i, j])) for i in range(n) for j in range(cols)
                if j != targets[i]) / n
    if num_classes is not None:
        b_avg *= (num_classes - 1) / (cols - 1)
    angles = sorted(math.acos(min(max(float(cos[i, targets[i]]), -1 + 1e-7), 1 - 1e-7)) for i in range(n))
    theta_med = angles[(n - 1) // 2]  # the lower median
    return math.log(b_avg) / math.cos(min(math.pi / 4, theta_med))


def make_head(c=10, d=8, **kw):
    return AdaCos(AdaCosConfig(num_classes=c, embedding_size=d, **kw))


def test_initial_scale_is_sqrt2_ln_c_minus_1():
    assert float(make_head(c=1000).scale) == pytest.approx(math.sqrt(2) * math.log(999), rel=1e-6)


@pytest.mark.parametrize("aligned", [False, True], ids=["theta_med_above_pi_4", "theta_med_below_pi_4"])
def test_training_step_matches_per_sample_loop_with_gradients(aligned):
    torch.manual_seed(0)
    head = make_head().double()
    labels = torch.tensor([0, 3, 9, 2, 3, 1])
    emb = torch.randn(6, 8, dtype=torch.float64)
    if aligned:  # own centre plus a little noise: every target angle well below π/4
        emb = head.weight.detach()[labels] * 50 + 0.1 * emb
    emb.requires_grad_(True)
    old = float(head.scale)
    out = head(emb, labels)
    out.loss.backward()

    emb2 = emb.detach().clone().requires_grad_(True)
    w2 = head.weight.detach().clone().requires_grad_(True)
    cos = reference_cosines(emb2, w2)
    theta_med = sorted(math.acos(float(cos[i, labels[i]].detach())) for i in range(6))[2]
    assert (theta_med < math.pi / 4) == aligned
    new = reference_scale(cos, labels, old)
    ref = new * cos
    ref_loss = reference_cross_entropy(ref, labels)
    ref_loss.backward()
    assert float(head.scale) == pytest.approx(new, rel=1e-5)
    torch.testing.assert_close(out.logits.double(), ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.loss.double(), ref_loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(emb.grad, emb2.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(head.weight.grad, w2.grad, rtol=1e-4, atol=1e-6)


def test_scale_evolves_from_the_previous_step_and_freezes_in_eval():
    torch.manual_seed(1)
    head = make_head()
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    emb = torch.randn(6, 8)
    s0 = float(head.scale)
    head(emb, labels)
    s1 = float(head.scale)
    head(emb, labels)
    cos = reference_cosines(emb, head.weight.detach())
    assert s1 == pytest.approx(reference_scale(cos, labels, s0), rel=1e-5)
    assert float(head.scale) == pytest.approx(reference_scale(cos, labels, s1), rel=1e-5)

    head.eval()
    before = head.scale.clone()
    out = head(emb, labels)
    assert torch.equal(head.scale, before)
    torch.testing.assert_close(out.logits, before * cos.float(), rtol=1e-5, atol=1e-5)


def test_fixed_variant_keeps_the_initial_scale():
    head = make_head(dynamic=False)
    s0 = head.scale.clone()
    head(torch.randn(4, 8), torch.tensor([0, 1, 2, 3]))
    assert torch.equal(head.scale, s0)


def test_scale_survives_state_dict_round_trip():
    torch.manual_seed(2)
    head = make_head()
    head(torch.randn(6, 8), torch.tensor([0, 1, 2, 3, 4, 5]))
    assert "scale" in head.state_dict()
    fresh = make_head()
    assert float(fresh.scale) != float(head.scale)
    fresh.load_state_dict(head.state_dict())
    assert torch.equal(fresh.scale, head.scale)


def test_partial_fc_scales_sampled_negatives_up_to_all_classes():
    torch.manual_seed(3)
    head = make_head(classifier=facex_core.ClassifierConfig(sample_rate=0.5))
    labels = torch.tensor([0, 0, 3, 3, 7, 7])
    emb = torch.randn(6, 8, requires_grad=True)
    old = float(head.scale)
    out = head(emb, labels)
    out.loss.backward()
    assert out.logits.shape == (6, 5) and torch.isfinite(out.loss) and torch.isfinite(emb.grad).all()
    new = float(head.scale)
    cos = out.logits.detach().double() / new  # the sampled cosines
    assert new == pytest.approx(reference_scale(cos, out.targets, old, num_classes=10), rel=1e-5)


def test_contract_registration_and_bf16_autocast():
    assert_light_module("facex_head_adacos.plugin")
    head = facex_core.build("head", "adacos", num_classes=10, embedding_size=8)
    assert isinstance(head, AdaCos)
    check_head(head)
    check_head_autocast(head)
    assert torch.isfinite(head.scale)


def test_sharded_over_two_gloo_ranks_equals_single_process():
    """The scale sums B_avg over every rank's columns: same scale buffer, loss and gradients as one process."""
    check_head_sharded(functools.partial(facex_core.build, "head", "adacos", num_classes=11, embedding_size=6),
                       rtol=2e-6)
