"""Class centres: Partial FC sampling, sub-centres, and exact model-parallel softmax over 2 gloo ranks."""
import os

import pytest
import torch
import torch.multiprocessing as mp

from facex_core import ClassifierConfig, HeadConfig, MarginSoftmaxHead, replace_target


class CosMargin(MarginSoftmaxHead):
    """A minimal margin head (target cos − 0.2, scale 10) to exercise the scaffolding."""

    def margin_logits(self, batch):
        t = batch.cos.gather(1, batch.target.clamp_min(0)[:, None]).squeeze(1)
        return replace_target(batch.cos, batch.target, t - 0.2) * 10.0


def head(num_classes=12, dim=6, **classifier):
    return CosMargin(HeadConfig(num_classes=num_classes, embedding_size=dim,
                                classifier=ClassifierConfig(**classifier)))


def reference_loss(emb, weight, labels, columns=None):
    """Straightforward CE over the given centre rows (all when None), written from the formula."""
    columns = list(range(weight.shape[0])) if columns is None else columns
    total = 0.0
    for i in range(emb.shape[0]):
        x = emb[i] / emb[i].norm()
        logits = []
        for c in columns:
            cos = (x * weight[c] / weight[c].norm()).sum()
            logits.append(10.0 * (cos - 0.2 if c == labels[i] else cos))
        logits = torch.stack(logits)
        total = total + torch.logsumexp(logits, 0) - logits[columns.index(int(labels[i]))]
    return total / emb.shape[0]


def test_partial_fc_rate_one_equals_full_fc_exactly():
    torch.manual_seed(0)
    full, pfc = head(), head(sample_rate=1.0)
    pfc.load_state_dict(full.state_dict())
    emb = torch.randn(5, 6)
    labels = torch.tensor([0, 3, 3, 7, 11])
    grads = []
    for h in (full, pfc):
        e = emb.clone().requires_grad_(True)
        out = h(e, labels)
        out.loss.backward()
        grads.append((out.loss.detach(), e.grad, h.weight.grad))
    for a, b in zip(*grads):
        assert torch.equal(a, b)
    e = emb.clone().requires_grad_(True)
    w = full.weight.detach().clone().requires_grad_(True)
    ref = reference_loss(e, w, labels)
    ref.backward()
    torch.testing.assert_close(grads[0][0], ref.detach(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grads[0][1], e.grad, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(grads[0][2], w.grad, atol=1e-5, rtol=1e-4)


def test_partial_fc_samples_all_positives_and_matches_ce_over_sampled_columns():
    torch.manual_seed(1)
    h = head(num_classes=40, sample_rate=0.25)
    h.train()
    emb = torch.randn(6, 6, requires_grad=True)
    labels = torch.tensor([1, 5, 5, 20, 33, 39])
    state = h.classifier.generator.get_state()
    out = h(emb, labels)
    h.classifier.generator.set_state(state)
    columns = h.classifier._select(labels).tolist()
    assert len(columns) == 10 and set(labels.tolist()) <= set(columns)
    assert out.logits.shape == (6, 10)
    assert all(columns[t] == l for t, l in zip(out.targets.tolist(), labels.tolist()))
    ref = reference_loss(emb.detach(), h.weight.detach(), labels, columns)
    torch.testing.assert_close(out.loss.detach(), ref, atol=1e-5, rtol=1e-5)
    out.loss.backward()
    unused = sorted(set(range(40)) - set(columns))
    assert torch.all(h.weight.grad[unused] == 0) and h.weight.grad[columns].abs().sum() > 0
    h.eval()  # evaluation sees every centre
    assert h(emb.detach(), labels).logits.shape == (6, 40)


def test_sub_centres_take_the_max_cosine_over_k():
    h = head(num_classes=3, dim=2, sub_centers=2)
    assert h.weight.shape == (3, 2, 2)
    with torch.no_grad():
        h.weight.copy_(torch.tensor([[[1.0, 0], [0, 1]], [[-1, 0], [0, -1]], [[1, 1], [1, -1]]]))
    batch = h.classifier(torch.tensor([[0.0, 2.0]]), torch.tensor([0]))
    expected = torch.tensor([[1.0, 0.0, 2 ** -0.5]])
    torch.testing.assert_close(batch.cos, expected)


def _rank_main(rank, world, init_file, emb, labels, weight, queue):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.manual_seed(0)
    h = head(num_classes=weight.shape[0], dim=weight.shape[1], sample_rate=1.0)
    c = h.classifier
    with torch.no_grad():
        c.weight.copy_(weight[c.class_start:c.class_start + c.num_local])
    n = emb.shape[0] // world
    local = emb[rank * n:(rank + 1) * n].clone().requires_grad_(True)
    out = h(local, labels[rank * n:(rank + 1) * n])
    out.loss.backward()
    # plain lists: shared-memory tensors would vanish when this process exits before the parent reads
    queue.put((rank, float(out.loss.detach()), local.grad.tolist(), c.weight.grad.tolist(), c.class_start, c.num_local))
    dist.destroy_process_group()


def test_sharded_centres_over_two_gloo_ranks_equal_single_process(tmp_path):
    torch.manual_seed(3)
    emb, weight = torch.randn(8, 6), torch.randn(11, 6)  # 11 classes: uneven shards 6 + 5
    labels = torch.tensor([0, 10, 4, 5, 6, 6, 9, 2])
    single = head(num_classes=11)
    with torch.no_grad():
        single.weight.copy_(weight)
    e = emb.clone().requires_grad_(True)
    out = single(e, labels)
    out.loss.backward()

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_rank_main, args=(r, 2, str(tmp_path / "store"), emb, labels, weight, queue))
             for r in range(2)]
    for p in procs:
        p.start()
    results = sorted(queue.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    for rank, loss, g_emb, g_w, start, num in results:
        assert loss == pytest.approx(float(out.loss.detach()), abs=1e-6)
        torch.testing.assert_close(torch.tensor(g_emb), e.grad[rank * 4:(rank + 1) * 4], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(torch.tensor(g_w), single.weight.grad[start:start + num], atol=1e-6, rtol=1e-5)
    assert [r[4:] for r in results] == [(0, 6), (6, 5)]


def test_cosines_stay_float32_under_bf16_autocast():
    h = head()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        batch = h.classifier(torch.randn(3, 6), torch.tensor([0, 1, 2]))
        out = h(torch.randn(3, 6, requires_grad=True), torch.tensor([0, 1, 2]))
    assert batch.cos.dtype == torch.float32 and batch.target_cos.dtype == torch.float32
    assert torch.isfinite(out.loss)


def test_partial_fc_draws_from_its_own_generator_which_the_state_dict_carries():
    torch.manual_seed(0)
    a = head(num_classes=40, sample_rate=0.25).train()
    b = head(num_classes=40, sample_rate=0.25).train()
    emb, labels = torch.randn(6, 6), torch.tensor([1, 5, 5, 20, 33, 39])
    a(emb, labels)
    b.load_state_dict(a.state_dict())  # a resumed run: restored from a checkpoint mid-epoch
    torch.rand(100)  # anything else (a data loader, dropout) drawing from the global RNG in between
    torch.testing.assert_close(a(emb, labels).logits, b(emb, labels).logits, rtol=0, atol=0)
    assert torch.equal(a.classifier._select(labels), b.classifier._select(labels))
