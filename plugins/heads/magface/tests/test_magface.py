import math

import pytest
import torch
import torch.multiprocessing as mp

import facex_core
from facex_core.testing import check_head
from facex_head_magface.magface import MagFace
from facex_head_magface.plugin import MagFaceConfig

L_A, U_A, L_M, U_M = 10.0, 110.0, 0.45, 0.8


def reference(emb, weight, labels, s=64.0, lam=35.0, easy=True):
    """Per-sample loop from the MagFace formula: logits, CE and λ·mean g(a)."""
    rows, g = [], []
    for i in range(emb.shape[0]):
        a = emb[i].norm().clamp(L_A, U_A)
        m = (U_M - L_M) / (U_A - L_A) * (a - L_A) + L_M
        g.append(a / U_A ** 2 + 1 / a)
        x = emb[i] / emb[i].norm()
        row = []
        for j in range(weight.shape[0]):
            c = (x * weight[j] / weight[j].norm()).sum().clamp(-1, 1)
            if j == labels[i]:
                theta = torch.acos(c.clamp(-1 + 1e-7, 1 - 1e-7))
                if easy:
                    c = torch.cos(theta + m) if c.item() > 0 else c
                else:
                    c = torch.cos(theta + m) if (theta + m).item() <= math.pi else c
            row.append(s * c)
        rows.append(torch.stack(row))
    logits = torch.stack(rows)
    ce = torch.stack([torch.logsumexp(logits[i], 0) - logits[i, labels[i]] for i in range(len(labels))]).mean()
    return logits, ce, lam * torch.stack(g).mean()


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
    emb = embeddings().requires_grad_(True)
    out = head(emb, labels)
    out.total_loss.backward()

    emb2 = emb.detach().clone().requires_grad_(True)
    w2 = head.weight.detach().clone().requires_grad_(True)
    ref_logits, ref_ce, ref_g = reference(emb2, w2, labels, easy=easy)
    (ref_ce + ref_g).backward()
    torch.testing.assert_close(out.logits.double(), ref_logits, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(out.loss.double(), ref_ce, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.extra_losses["magface_g"].double(), ref_g, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(emb.grad, emb2.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(head.weight.grad, w2.grad, rtol=1e-4, atol=1e-5)


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
    check_head(facex_core.build("head", "magface", num_classes=10, embedding_size=8))
    head = MagFace(MagFaceConfig(num_classes=3, embedding_size=4))
    emb = (head.weight.detach()[:2] * 1000).clone().requires_grad_(True)  # cos θ_y = 1 exactly
    head(emb, torch.tensor([0, 1])).total_loss.backward()
    assert torch.isfinite(emb.grad).all() and torch.isfinite(head.weight.grad).all()


def test_magface_bf16_autocast_gives_finite_loss_and_gradients():
    torch.manual_seed(0)
    head = facex_core.build("head", "magface", num_classes=10, embedding_size=8)
    emb = (torch.randn(6, 8) * 10).requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = head(emb, torch.tensor([0, 1, 2, 3, 4, 5]))
    out.total_loss.backward()
    assert torch.isfinite(out.total_loss) and torch.isfinite(emb.grad).all()
    assert torch.isfinite(head.weight.grad).all()


def test_magface_partial_fc_gives_finite_loss_and_sampled_logits():
    torch.manual_seed(0)
    head = facex_core.build("head", "magface", num_classes=10, embedding_size=8, classifier={"sample_rate": 0.5})
    emb = (torch.randn(6, 8) * 10).requires_grad_(True)
    out = head(emb, torch.tensor([0, 1, 1, 4, 4, 7]))
    out.total_loss.backward()
    assert out.logits.shape == (6, 5) and torch.isfinite(out.total_loss) and torch.isfinite(emb.grad).all()


def _rank_main(rank, world, init_file, emb, labels, weight, queue):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    head = MagFace(MagFaceConfig(num_classes=weight.shape[0], embedding_size=weight.shape[1], scale=16.0))
    c = head.classifier
    with torch.no_grad():
        c.weight.copy_(weight[c.class_start:c.class_start + c.num_local])
    n = emb.shape[0] // world
    local = emb[rank * n:(rank + 1) * n].clone().requires_grad_(True)
    out = head(local, labels[rank * n:(rank + 1) * n])
    out.total_loss.backward()
    queue.put((rank, out.total_loss.item(), local.grad.numpy(), c.weight.grad.numpy(), c.class_start, c.num_local))
    dist.destroy_process_group()


def test_magface_sharded_over_two_gloo_ranks_equals_single_process(tmp_path):
    torch.manual_seed(3)
    # scale 16 keeps every per-sample loss below the core's sharded-CE clamp (p ≥ 1e-30)
    single = MagFace(MagFaceConfig(num_classes=11, embedding_size=6, scale=16.0))
    labels = torch.tensor([0, 10, 4, 5, 6, 6, 9, 2])
    emb = torch.nn.functional.normalize(torch.randn(8, 6), dim=1) * torch.linspace(8, 120, 8)[:, None]
    e = emb.clone().requires_grad_(True)
    out = single(e, labels)
    out.total_loss.backward()

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
    for rank, loss, g_emb, g_w, start, num in results:
        assert loss == pytest.approx(out.total_loss.item(), abs=1e-5)
        torch.testing.assert_close(torch.from_numpy(g_emb), e.grad[rank * 4:(rank + 1) * 4],
                                   atol=1e-6, rtol=1e-4)
        torch.testing.assert_close(torch.from_numpy(g_w), single.weight.grad[start:start + num],
                                   atol=1e-6, rtol=1e-4)
