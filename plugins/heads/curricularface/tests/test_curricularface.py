import functools
import math

import pytest
import torch

import facex_core
from facex_core.testing import (assert_light_module, check_head, check_head_at_alignment, check_head_autocast,
                                check_head_matches_reference, check_head_partial_fc, check_head_sharded,
                                reference_cosines, reference_cross_entropy)
from facex_head_curricularface.curricularface import CurricularFace
from facex_head_curricularface.plugin import CurricularFaceConfig


def reference_t(cos, labels, old_t, momentum=0.01):
    """The EMA by hand: (1 − momentum)·t + momentum·mean_i cos θ_{y_i}."""
    mean = sum(cos[i, y].item() for i, y in enumerate(labels.tolist())) / len(labels)
    return (1 - momentum) * old_t + momentum * mean


def reference_logits(cos, labels, t, s=64.0, m=0.5):
    """Per-sample loop from the paper: θ_y = acos(cos θ_y), target cos(θ_y + m) (cos θ_y − m·sin m past π),
    negatives above cos(θ_y + m) become cos θ_j·(t + cos θ_j)."""
    logits = torch.empty_like(cos)
    for i, y in enumerate(labels.tolist()):
        theta = math.acos(min(max(cos[i, y].item(), -1 + 1e-7), 1 - 1e-7))
        for j, c in enumerate(cos[i]):
            if j != y:
                logits[i, j] = c * (t + c) if c.item() > math.cos(theta + m) else c
            elif theta + m <= math.pi:
                logits[i, j] = torch.cos(torch.acos(c.clamp(-1 + 1e-7, 1 - 1e-7)) + m)
            else:
                logits[i, j] = c - m * math.sin(m)
    return s * logits


def make_head(c=10, d=8, **kw):
    return CurricularFace(CurricularFaceConfig(num_classes=c, embedding_size=d, **kw))


def test_paper_defaults_and_t_starts_at_zero():
    head = facex_core.build("head", "curricularface", num_classes=5)
    assert (head.config.scale, head.config.margin, head.config.momentum) == (64.0, 0.5, 0.01)
    assert float(head.t) == 0.0 and "t" in head.state_dict()


def test_training_step_matches_per_sample_loop_with_gradients():
    torch.manual_seed(0)
    head = make_head().double()
    head.t.fill_(0.3)  # a mid-training t, so the hard-negative re-weighting is visible
    labels = torch.tensor([0, 3, 9, 2, 3, 1])
    emb = torch.randn(6, 8, dtype=torch.float64)
    with torch.no_grad():  # sample 2 points away from its centre: θ_y + m > π, the fallback target
        emb[2] = -head.weight[9] * 100 + 0.01 * emb[2]
    t = reference_t(reference_cosines(emb, head.weight.detach()), labels, 0.3)

    def reference(e, params):
        logits = reference_logits(reference_cosines(e, params["classifier.weight"]), labels, t)
        return {"logits": logits, "loss": reference_cross_entropy(logits, labels)}

    out = check_head_matches_reference(head, emb, labels, reference)
    assert float(head.t) == pytest.approx(t, rel=1e-6)

    # the test covered both kinds of negatives and the fallback
    cos = reference_cosines(emb, head.weight.detach())
    negatives = torch.ones_like(cos, dtype=torch.bool)
    negatives[torch.arange(6), labels] = False
    reweighted = ~torch.isclose(out.logits.detach().double() / 64.0, cos, atol=1e-6) & negatives
    assert reweighted.any() and (negatives & ~reweighted).any()
    assert float(cos[2, 9]) < math.cos(math.pi - 0.5)


def test_t_is_an_ema_in_training_and_frozen_in_eval():
    torch.manual_seed(1)
    head = make_head()
    emb, labels = torch.randn(6, 8), torch.tensor([0, 1, 2, 3, 4, 5])
    cos = reference_cosines(emb, head.weight.detach())
    head(emb, labels)
    t1 = float(head.t)
    assert t1 == pytest.approx(reference_t(cos, labels, 0.0), rel=1e-5)
    head(emb, labels)
    assert float(head.t) == pytest.approx(reference_t(cos, labels, t1), rel=1e-5)
    head.eval()
    before = head.t.clone()
    head(emb, labels)
    assert torch.equal(head.t, before)


def test_t_survives_state_dict_round_trip():
    torch.manual_seed(2)
    head = make_head()
    head(torch.randn(6, 8), torch.tensor([0, 1, 2, 3, 4, 5]))
    fresh = make_head()
    fresh.load_state_dict(head.state_dict())
    assert float(fresh.t) != 0.0 and torch.equal(fresh.t, head.t)


def test_contract_and_registration():
    assert_light_module("facex_head_curricularface.plugin")
    head = facex_core.build("head", "curricularface", num_classes=10, embedding_size=8)
    assert isinstance(head, CurricularFace)
    check_head(head)


def test_gradient_finite_at_exact_alignment():
    head = make_head(c=3, d=4)
    check_head_at_alignment(head)  # cos θ_y = 1 exactly: finite loss and gradients


def test_bf16_autocast_and_partial_fc():
    torch.manual_seed(0)
    head = make_head()
    check_head_autocast(head)
    assert torch.isfinite(head.t)
    check_head_partial_fc(make_head(classifier=facex_core.ClassifierConfig(sample_rate=0.5)), batch=4)


def test_sharded_over_two_gloo_ranks_equals_single_process():
    """t and the hard-negative mask come from the own-class cosine of rows whose class lives on another
    rank too: every rank's t buffer, the loss and the gradients equal one process's."""
    check_head_sharded(functools.partial(facex_core.build, "head", "curricularface", num_classes=11,
                                         embedding_size=6, scale=16.0), rtol=5e-6)


@pytest.mark.parametrize("field, bad", [
    ("scale", 0.0), ("margin", 2.0), ("momentum", 0.0), ("momentum", 1.5)
])
def test_settings_outside_their_declared_range_are_refused(field, bad):
    # the ranges of the paper's parameters, declared with option(ge=/gt=/le=/lt=)
    with pytest.raises(facex_core.ConfigError, match=rf"head.{field}:? must be"):
        facex_core.build("head", "curricularface", num_classes=10, embedding_size=8, **{field: bad})
