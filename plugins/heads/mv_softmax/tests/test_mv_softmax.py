import math

import pytest
import torch

import facex_core
from facex_core.testing import (assert_light_module, check_head, check_head_at_alignment, check_head_autocast,
                                check_head_matches_reference, check_head_partial_fc, reference_cosines,
                                reference_cross_entropy)
from facex_head_mv_softmax.mv_softmax import MVSoftmax
from facex_head_mv_softmax.plugin import MVSoftmaxConfig


def reference_logits(emb, weight, labels, is_am, easy, m=0.35, t=1.2, s=32.0):
    """Per-sample loop from the paper: f = cos θ_y − m or cos(acos(cos θ_y) + m); negatives with
    cos θ_j > f become t·cos θ_j + t − 1; the target becomes f (kept cos θ_y where easy and cos θ_y ≤ 0)."""
    cos = reference_cosines(emb, weight)
    logits = torch.empty_like(cos)
    for i, y in enumerate(labels.tolist()):
        c_y = cos[i, y]
        f = c_y - m if is_am else torch.cos(torch.acos(c_y.clamp(-1 + 1e-7, 1 - 1e-7)) + m)
        for j, c in enumerate(cos[i]):
            if j == y:
                logits[i, j] = c if easy and c.item() <= 0 else f
            else:
                logits[i, j] = t * c + t - 1 if c.item() > f.item() else c
    return s * logits


def make_head(c=10, d=8, **kw):
    return MVSoftmax(MVSoftmaxConfig(num_classes=c, embedding_size=d, **kw))


@pytest.mark.parametrize("easy", [True, False], ids=["easy_margin", "margin_everywhere"])
@pytest.mark.parametrize("is_am", [True, False], ids=["mv_am", "mv_arc"])
def test_matches_per_sample_loop_with_gradients(is_am, easy):
    torch.manual_seed(0)
    head = make_head(is_am=is_am, easy_margin=easy).double()
    emb = torch.randn(6, 8, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 3, 9, 2, 3, 1])
    def reference(e, params):
        logits = reference_logits(e, params["classifier.weight"], labels, is_am, easy)
        return {"logits": logits, "loss": reference_cross_entropy(logits, labels)}

    out = check_head_matches_reference(head, emb, labels, reference)

    # the batch has samples on both sides of cos θ_y = 0 and both kinds of negatives
    cos = reference_cosines(emb.detach(), head.weight.detach()).detach()
    own = cos[torch.arange(6), labels]
    assert (own > 0).any() and (own <= 0).any()
    negatives = torch.ones_like(cos, dtype=torch.bool)
    negatives[torch.arange(6), labels] = False
    emphasised = ~torch.isclose(out.logits.detach().double() / 32.0, cos, atol=1e-6) & negatives
    assert emphasised.any() and (negatives & ~emphasised).any()


def test_defaults_and_facexzoo_values():
    cfg = facex_core.component_config("head", "mv_softmax", {"num_classes": 5})[1]
    assert (cfg.is_am, cfg.margin, cfg.mv_weight, cfg.scale, cfg.easy_margin) == (True, 0.35, 1.2, 32.0, True)
    with pytest.raises(facex_core.ConfigError, match="mv_weight"):
        facex_core.build("head", "mv_softmax", num_classes=5, mv_weight=0.9)
    head = facex_core.build("head", "mv_softmax", num_classes=5, mv_weight=1.12)
    assert head.t == 1.12


def test_hard_negative_is_reweighted_by_t():
    head = make_head(c=2, d=2, scale=1.0, margin=0.3)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    theta = 0.7  # cos θ_1 = sin 0.7 = 0.644 > cos 0.7 − 0.3 = 0.465: mis-classified under the margin
    logits = head(torch.tensor([[math.cos(theta), math.sin(theta)]]), torch.tensor([0])).logits.detach()
    assert float(logits[0, 0]) == pytest.approx(math.cos(theta) - 0.3, abs=1e-6)
    assert float(logits[0, 1]) == pytest.approx(1.2 * math.sin(theta) + 0.2, abs=1e-6)


@pytest.mark.parametrize("is_am", [True, False])
def test_contract_and_registration(is_am):
    head = facex_core.build("head", "mv_softmax", num_classes=10, embedding_size=8, is_am=is_am)
    assert isinstance(head, MVSoftmax)
    check_head(head)


def test_registration_module_is_light():
    assert_light_module("facex_head_mv_softmax.plugin")


def test_arc_gradient_finite_at_exact_alignment():
    head = make_head(c=3, d=4, is_am=False)
    check_head_at_alignment(head)  # cos θ_y = 1 exactly: finite loss and gradients


@pytest.mark.parametrize("is_am", [True, False])
def test_bf16_autocast_and_partial_fc(is_am):
    torch.manual_seed(0)
    check_head_autocast(make_head(is_am=is_am))
    check_head_partial_fc(make_head(is_am=is_am, classifier=facex_core.ClassifierConfig(sample_rate=0.5)), batch=4)


@pytest.mark.parametrize("field, bad", [
    ("scale", 0.0), ("margin", -0.1), ("margin", 1.5), ("mv_weight", 0.9)
])
def test_settings_outside_their_declared_range_are_refused(field, bad):
    # the ranges of the paper's parameters, declared with option(ge=/gt=/le=/lt=)
    with pytest.raises(facex_core.ConfigError, match=rf"head.{field}:? must be"):
        facex_core.build("head", "mv_softmax", num_classes=10, embedding_size=8, **{field: bad})
