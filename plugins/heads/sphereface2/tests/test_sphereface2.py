import math

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F

import facex_core
from facex_core.testing import check_head
from facex_head_sphereface2.plugin import SphereFace2Config
from facex_head_sphereface2.sphereface2 import SphereFace2, initial_bias

LAM, R, M, T, LW = 0.7, 40.0, 0.4, 3.0, 50.0


def reference_loss(emb, weight, bias, labels, columns=None, detach=True):
    """Per-pair loop from the SphereFace2-C formula over the given centre rows (all when None)."""
    columns = list(range(weight.shape[0])) if columns is None else columns
    total = 0.0
    for i in range(emb.shape[0]):
        x = emb[i] / emb[i].norm()
        for j in columns:
            c = (x * weight[j] / weight[j].norm()).sum().clamp(-1, 1)
            own = j == int(labels[i])
            adjusted = 2 * ((c + 1) / 2) ** T - 1 + (-M if own else M)
            if detach:  # opensphere: the adjustment is a shift without gradient
                adjusted = c + (adjusted - c).detach()
            z = R * adjusted + bias
            total = total + (LAM * torch.log1p(torch.exp(-z)) if own else (1 - LAM) * torch.log1p(torch.exp(z)))
    return LW / R * total / emb.shape[0]


@pytest.mark.parametrize("detach", [True, False])
def test_sphereface2_matches_per_pair_loop_with_gradients(detach):
    torch.manual_seed(0)
    head = SphereFace2(SphereFace2Config(num_classes=10, embedding_size=8, detach_adjustment=detach)).double()
    labels = torch.tensor([0, 3, 9, 2, 3, 7])
    w = torch.nn.functional.normalize(head.weight.detach(), dim=1)
    emb = (w[labels] + 0.7 * torch.randn(6, 8, dtype=torch.float64)).requires_grad_(True)
    out = head(emb, labels)
    out.loss.backward()

    emb2 = emb.detach().clone().requires_grad_(True)
    w2 = head.weight.detach().clone().requires_grad_(True)
    b2 = head.bias.detach().clone().requires_grad_(True)
    ref = reference_loss(emb2, w2, b2, labels, detach=detach)
    ref.backward()
    torch.testing.assert_close(out.loss.double(), ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(emb.grad, emb2.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(head.weight.grad, w2.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(head.bias.grad, b2.grad, rtol=1e-4, atol=1e-6)
    assert out.extra_losses == {} and torch.equal(out.targets, labels)


def test_sphereface2_loss_equals_opensphere_weighted_bce_mean():
    torch.manual_seed(1)
    head = facex_core.build("head", "sphereface2", num_classes=10, embedding_size=8)
    emb, labels = torch.randn(6, 8), torch.tensor([0, 3, 9, 2, 3, 7])
    out = head(emb, labels)
    one_hot = F.one_hot(labels, 10).float()
    weight = LW * 10 / R * (LAM * one_hot + (1 - LAM) * (1 - one_hot))
    expected = F.binary_cross_entropy_with_logits(out.logits, one_hot, weight=weight)
    torch.testing.assert_close(out.loss, expected, rtol=1e-5, atol=1e-5)


def test_sphereface2_logits_apply_g_and_margin_around_the_bias():
    head = SphereFace2(SphereFace2Config(num_classes=2, embedding_size=2))
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    theta = 0.6
    logits = head(torch.tensor([[math.cos(theta), math.sin(theta)]]), torch.tensor([0])).logits[0]
    g = lambda z: 2 * ((z + 1) / 2) ** 3 - 1  # noqa: E731
    b = head.bias.item()
    assert logits[0].item() == pytest.approx(R * (g(math.cos(theta)) - M) + b, abs=1e-4)
    assert logits[1].item() == pytest.approx(R * (g(math.sin(theta)) + M) + b, abs=1e-4)


@pytest.mark.parametrize("num_classes", [10, 1000, 85742])
def test_sphereface2_initial_bias_balances_positive_and_negatives_at_cos_zero(num_classes):
    b = initial_bias(num_classes, LAM, R, M, T)
    g0 = 2 * 0.5 ** T - 1
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    d_bias = -LAM * sig(-(R * (g0 - M) + b)) + (1 - LAM) * (num_classes - 1) * sig(R * (g0 + M) + b)
    assert d_bias == pytest.approx(0.0, abs=1e-9)
    head = facex_core.build("head", "sphereface2", num_classes=10, embedding_size=8)
    assert head.bias.item() == pytest.approx(initial_bias(10, LAM, R, M, T), rel=1e-6)


def test_sphereface2_partial_fc_sums_only_the_sampled_columns():
    torch.manual_seed(1)
    head = facex_core.build("head", "sphereface2", num_classes=40, embedding_size=6,
                            classifier={"sample_rate": 0.25})
    emb = torch.randn(6, 6, requires_grad=True)
    labels = torch.tensor([1, 5, 5, 20, 33, 39])
    torch.manual_seed(7)
    out = head(emb, labels)
    torch.manual_seed(7)
    columns = head.classifier._select(labels).tolist()  # the same draw, to know which columns were used
    assert out.logits.shape == (6, 10) and torch.isfinite(out.loss)
    ref = reference_loss(emb.detach(), head.weight.detach(), head.bias.detach(), labels, columns)
    torch.testing.assert_close(out.loss.detach(), ref, rtol=1e-5, atol=1e-5)
    out.loss.backward()
    unused = sorted(set(range(40)) - set(columns))
    assert torch.all(head.weight.grad[unused] == 0) and torch.isfinite(emb.grad).all()


def test_sphereface2_contract_eval_logits_and_finite_gradient_at_alignment():
    check_head(facex_core.build("head", "sphereface2", num_classes=10, embedding_size=8))
    head = SphereFace2(SphereFace2Config(num_classes=3, embedding_size=4, detach_adjustment=False))
    emb = head.weight.detach()[:2].clone().requires_grad_(True)
    head(emb, torch.tensor([0, 1])).loss.backward()
    assert torch.isfinite(emb.grad).all() and torch.isfinite(head.weight.grad).all()
    with torch.no_grad():
        assert head.eval()(emb, torch.tensor([0, 1])).logits.shape == (2, 3)


def test_sphereface2_bf16_autocast_gives_finite_loss_and_gradients():
    torch.manual_seed(0)
    head = facex_core.build("head", "sphereface2", num_classes=10, embedding_size=8)
    emb = torch.randn(6, 8, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = head(emb, torch.tensor([0, 1, 2, 3, 4, 5]))
    out.loss.backward()
    assert out.loss.dtype == torch.float32 and torch.isfinite(out.loss)
    assert torch.isfinite(emb.grad).all() and torch.isfinite(head.weight.grad).all()
    assert torch.isfinite(head.bias.grad)


def _rank_main(rank, world, init_file, emb, labels, weight, queue):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    head = SphereFace2(SphereFace2Config(num_classes=weight.shape[0], embedding_size=weight.shape[1]))
    c = head.classifier
    with torch.no_grad():
        c.weight.copy_(weight[c.class_start:c.class_start + c.num_local])
    n = emb.shape[0] // world
    local = emb[rank * n:(rank + 1) * n].clone().requires_grad_(True)
    out = head(local, labels[rank * n:(rank + 1) * n])
    out.loss.backward()
    with torch.no_grad():  # validation under sharding: no gradient hook, same loss
        assert head.eval()(local, labels[rank * n:(rank + 1) * n]).loss.item() == out.loss.item()
    queue.put((rank, out.loss.item(), local.grad.numpy(), c.weight.grad.numpy(), head.bias.grad.item(),
               c.class_start, c.num_local))
    dist.destroy_process_group()


def test_sphereface2_sharded_over_two_gloo_ranks_equals_single_process(tmp_path):
    torch.manual_seed(3)
    single = SphereFace2(SphereFace2Config(num_classes=11, embedding_size=6))
    emb, labels = torch.randn(8, 6), torch.tensor([0, 10, 4, 5, 6, 6, 9, 2])
    e = emb.clone().requires_grad_(True)
    out = single(e, labels)
    out.loss.backward()

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_rank_main, args=(r, 2, str(tmp_path / "store"), emb, labels,
                                                  single.weight.detach(), queue)) for r in range(2)]
    for p in procs:
        p.start()
    results = sorted(queue.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    for rank, loss, g_emb, g_w, g_b, start, num in results:
        assert loss == pytest.approx(out.loss.item(), rel=1e-6)
        assert g_b == pytest.approx(single.bias.grad.item(), rel=1e-5)  # every rank: the full gradient
        torch.testing.assert_close(torch.from_numpy(g_emb), e.grad[rank * 4:(rank + 1) * 4],
                                   atol=1e-6, rtol=1e-4)
        torch.testing.assert_close(torch.from_numpy(g_w), single.weight.grad[start:start + num],
                                   atol=1e-6, rtol=1e-4)
