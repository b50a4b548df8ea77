import json
import subprocess
import sys
import textwrap

import pytest
import torch

import facex_core
from facex_core.testing import check_head
from facex_head_adam_softmax.adam_softmax import AdaMSoftmax
from facex_head_adam_softmax.plugin import AdaMSoftmaxConfig


def cosine(x, w):
    return ((x / x.norm()) * (w / w.norm())).sum().clamp(-1, 1)


def reference_logits(emb, weight, margins, labels, s):
    """Per-sample loop from the formula: s·(cos θ_y − m_y) for the own class, s·cos θ_j otherwise."""
    rows = []
    for i in range(emb.shape[0]):
        row = []
        for j in range(weight.shape[0]):
            c = cosine(emb[i], weight[j])
            row.append(s * (c - margins[j].clamp(0, 1)) if j == labels[i] else s * c)
        rows.append(torch.stack(row))
    return torch.stack(rows)


def reference_total_loss(logits, margins, labels, lam):
    ce = torch.stack([torch.logsumexp(logits[i], 0) - logits[i, labels[i]] for i in range(len(labels))]).mean()
    return ce, lam * (1 - sum(m.clamp(0, 1) for m in margins) / len(margins))


def make_head(c=10, d=8, **kw):
    return AdaMSoftmax(AdaMSoftmaxConfig(num_classes=c, embedding_size=d, **kw))


def test_margins_are_one_learnable_parameter_per_class_initialised_in_range():
    torch.manual_seed(0)
    head = make_head(c=1000)
    assert isinstance(head.margins, torch.nn.Parameter) and head.margins.shape == (1000,)
    m = head.margins.detach()
    assert float(m.min()) >= 0.3 and float(m.max()) <= 0.4
    assert "margins" in head.state_dict()


def test_matches_per_sample_loop_with_gradients_for_embeddings_centres_and_margins():
    torch.manual_seed(0)
    head = make_head().double()
    emb = torch.randn(6, 8, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 3, 9, 2, 3, 1])
    out = head(emb, labels)
    out.total_loss.backward()

    emb2 = emb.detach().clone().requires_grad_(True)
    w2 = head.weight.detach().clone().requires_grad_(True)
    m2 = head.margins.detach().clone().requires_grad_(True)
    ref = reference_logits(emb2, w2, m2, labels, 30.0)
    ce, reg = reference_total_loss(ref, m2, labels, 70.0)
    (ce + reg).backward()
    torch.testing.assert_close(out.logits.double(), ref, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(out.loss.double(), ce, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.extra_losses["margin"], reg, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(emb.grad, emb2.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(head.weight.grad, w2.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(head.margins.grad, m2.grad, rtol=1e-4, atol=1e-5)


def test_training_projects_margins_into_unit_interval_and_eval_only_clamps():
    torch.manual_seed(1)
    head = make_head()
    raw = torch.tensor([-0.5, 1.5, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 2.0])
    emb, labels = torch.randn(4, 8), torch.tensor([0, 1, 9, 2])
    with torch.no_grad():
        head.margins.copy_(raw)
    head.eval()
    evaluated = head(emb, labels)
    assert torch.equal(head.margins.detach(), raw)  # eval leaves the parameter alone
    head.train()
    trained = head(emb, labels)
    assert torch.equal(head.margins.detach(), raw.clamp(0, 1))
    torch.testing.assert_close(evaluated.logits, trained.logits)
    torch.testing.assert_close(evaluated.extra_losses["margin"], trained.extra_losses["margin"])
    cos_0 = float(cosine(emb[0], head.weight.detach()[0]))  # label 0's raw margin −0.5 projects to 0
    assert float(trained.logits.detach()[0, 0]) == pytest.approx(30.0 * (cos_0 - 0.0), abs=1e-4)  # m_0 = 0


def test_two_forwards_before_one_backward_are_allowed():
    head = make_head()
    emb, labels = torch.randn(4, 8), torch.tensor([0, 1, 2, 3])
    first, second = head(emb, labels), head(emb, labels)
    (first.total_loss + second.total_loss).backward()
    assert torch.isfinite(head.margins.grad).all()


def test_regulariser_pulls_every_margin_up_and_ce_pulls_used_ones_down():
    torch.manual_seed(2)
    head = make_head()
    out = head(torch.randn(4, 8), torch.tensor([0, 0, 1, 2]))
    out.extra_losses["margin"].backward(retain_graph=True)
    torch.testing.assert_close(head.margins.grad, torch.full((10,), -70.0 / 10))
    head.margins.grad = None
    out.loss.backward()
    g = head.margins.grad
    assert (g[:3] > 0).all() and (g[3:] == 0).all()


def test_partial_fc_uses_the_margin_of_each_samples_global_class():
    torch.manual_seed(3)
    head = make_head(classifier=facex_core.ClassifierConfig(sample_rate=0.5))
    with torch.no_grad():
        head.margins.copy_(torch.linspace(0.05, 0.95, 10))
    emb, labels = torch.randn(6, 8, requires_grad=True), torch.tensor([0, 0, 3, 3, 7, 7])
    out = head(emb, labels)
    out.total_loss.backward()
    assert out.logits.shape == (6, 5) and torch.isfinite(out.loss) and torch.isfinite(emb.grad).all()
    for i in range(6):
        cos_y = float(cosine(emb[i].detach(), head.weight.detach()[labels[i]]))
        expected = 30.0 * (cos_y - float(head.margins.detach()[labels[i]]))
        assert float(out.logits.detach()[i, out.targets[i]]) == pytest.approx(expected, abs=1e-4)


def test_contract_and_registration():
    head = facex_core.build("head", "adam_softmax", num_classes=10, embedding_size=8)
    assert isinstance(head, AdaMSoftmax)
    check_head(head)
    assert head.margins.grad is not None and torch.isfinite(head.margins.grad).all()


def test_bf16_autocast_forward_backward_is_finite():
    head = make_head()
    emb = torch.randn(6, 8, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = head(emb, torch.tensor([0, 1, 2, 3, 4, 5]))
    out.total_loss.backward()
    assert torch.isfinite(out.total_loss) and torch.isfinite(emb.grad).all()
    assert torch.isfinite(head.weight.grad).all() and torch.isfinite(head.margins.grad).all()


RANK_SCRIPT = textwrap.dedent("""
    import json, sys
    import torch, torch.distributed as dist
    from facex_head_adam_softmax.adam_softmax import AdaMSoftmax
    from facex_head_adam_softmax.plugin import AdaMSoftmaxConfig
    rank, world, store, out_file, data = int(sys.argv[1]), 2, sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    emb, labels = torch.tensor(data["emb"]), torch.tensor(data["labels"])
    weight, margins = torch.tensor(data["weight"]), torch.tensor(data["margins"])
    head = AdaMSoftmax(AdaMSoftmaxConfig(num_classes=weight.shape[0], embedding_size=weight.shape[1]))
    c = head.classifier
    with torch.no_grad():
        c.weight.copy_(weight[c.class_start:c.class_start + c.num_local])
        head.margins.copy_(margins[c.class_start:c.class_start + c.num_local])
    n = emb.shape[0] // world
    out = head(emb[rank * n:(rank + 1) * n], labels[rank * n:(rank + 1) * n])
    out.total_loss.backward()
    json.dump({"loss": float(out.loss), "margin": float(out.extra_losses["margin"]), "start": c.class_start,
               "grad": head.margins.grad.tolist()}, open(out_file, "w"))
    dist.destroy_process_group()
""")


def test_sharded_over_two_gloo_ranks_equals_single_process(tmp_path):
    torch.manual_seed(4)
    emb, weight = torch.randn(8, 6), torch.randn(11, 6)  # 11 classes: uneven shards 6 + 5
    labels = torch.tensor([0, 10, 4, 5, 6, 6, 9, 2])
    single = make_head(c=11, d=6)
    with torch.no_grad():
        single.weight.copy_(weight)
    out = single(emb, labels)
    out.total_loss.backward()
    data = json.dumps({"emb": emb.tolist(), "labels": labels.tolist(), "weight": weight.tolist(),
                       "margins": single.margins.detach().tolist()})
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    procs = [subprocess.Popen([sys.executable, str(script), str(r), str(tmp_path / "store"),
                               str(tmp_path / f"rank{r}.json"), data]) for r in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    for r in range(2):
        result = json.loads((tmp_path / f"rank{r}.json").read_text())
        assert result["loss"] == pytest.approx(float(out.loss.detach()), rel=1e-5)
        assert result["margin"] == pytest.approx(float(out.extra_losses["margin"].detach()), rel=1e-6)
        start, grad = result["start"], torch.tensor(result["grad"])
        torch.testing.assert_close(grad, single.margins.grad[start:start + len(grad)], rtol=1e-4, atol=1e-6)
