import math

import pytest
import torch
import torch.multiprocessing as mp

import facex_core
from facex_core.testing import check_head
from facex_head_npcface.npcface import NPCFace
from facex_head_npcface.plugin import NPCFaceConfig


def reference_logits(emb, weight, labels, s=64.0, m=0.5, m0=0.4, m1=0.2, t=1.1, a=0.2):
    """Per-sample loop from the NPCFace formula: hard mask, collaborative margin, t·cos + a."""
    rows = []
    for i in range(emb.shape[0]):
        x = emb[i] / emb[i].norm()
        cos = [(x * weight[j] / weight[j].norm()).sum().clamp(-1, 1) for j in range(weight.shape[0])]
        y = int(labels[i])
        theta_y = torch.acos(cos[y].clamp(-1 + 1e-7, 1 - 1e-7))
        boundary = math.cos(theta_y.item() + m)
        hard = [j for j in range(len(cos)) if j != y and cos[j].item() > boundary]
        mean_hard = sum(cos[j].item() for j in hard) / max(1, len(hard))
        margin = m0 + m1 * mean_hard  # a constant for the gradient, as in the reference
        row = []
        for j, c in enumerate(cos):
            if j == y:
                value = torch.cos(theta_y + margin) if c.item() > 0 else c
            elif j in hard:
                value = t * c + a
            else:
                value = c
            row.append(s * value)
        rows.append(torch.stack(row))
    return torch.stack(rows)


def reference_loss(logits, labels):
    return torch.stack([torch.logsumexp(logits[i], 0) - logits[i, labels[i]] for i in range(len(labels))]).mean()


def near_own_centres(head, labels, noise=0.6, seed=0):
    """Embeddings near their class centres: most targets have cos θ_y > 0 and hard negatives exist."""
    g = torch.Generator().manual_seed(seed)
    w = torch.nn.functional.normalize(head.weight.detach().double(), dim=-1)
    return (w[labels] + noise * torch.randn(len(labels), w.shape[1], generator=g, dtype=torch.float64)) * 3.0


def test_npcface_matches_per_sample_loop_with_gradients():
    torch.manual_seed(0)
    head = NPCFace(NPCFaceConfig(num_classes=10, embedding_size=8)).double()
    labels = torch.tensor([0, 3, 9, 2, 3, 7])
    emb = near_own_centres(head, labels).requires_grad_(True)
    out = head(emb, labels)
    out.loss.backward()

    emb2 = emb.detach().clone().requires_grad_(True)
    w2 = head.weight.detach().clone().requires_grad_(True)
    ref = reference_logits(emb2, w2, labels)
    ref_loss = reference_loss(ref, labels)
    ref_loss.backward()
    torch.testing.assert_close(out.logits.double(), ref, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(out.loss.double(), ref_loss, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(emb.grad, emb2.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(head.weight.grad, w2.grad, rtol=1e-4, atol=1e-5)
    # the inputs exercise the margin branch and the hard-negative branch
    cos = out.logits.detach().double() / 64.0
    plain = torch.nn.functional.normalize(emb.detach(), dim=1) @ torch.nn.functional.normalize(
        head.weight.detach(), dim=1).T
    assert (plain[torch.arange(6), labels] > 0).any() and (plain[torch.arange(6), labels] <= 0).any()
    assert torch.isclose(cos, 1.1 * plain + 0.2, atol=1e-5).any()


def test_npcface_margin_is_m0_without_hard_negatives():
    head = NPCFace(NPCFaceConfig(num_classes=2, embedding_size=2, scale=1.0))
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
    theta = 0.3
    logits = head(torch.tensor([[math.cos(theta), math.sin(theta)]]), torch.tensor([0])).logits
    assert logits[0, 0].item() == pytest.approx(math.cos(theta + 0.4), abs=1e-6)
    assert logits[0, 1].item() == pytest.approx(-math.cos(theta), abs=1e-6)  # not hard: unchanged


def test_npcface_hard_negative_raises_margin_and_is_emphasised():
    head = NPCFace(NPCFaceConfig(num_classes=2, embedding_size=2, scale=1.0))
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    theta = 0.7  # cos θ_1 = sin 0.7 = 0.644 > cos(0.7 + 0.5) = 0.362: hard
    logits = head(torch.tensor([[math.cos(theta), math.sin(theta)]]), torch.tensor([0])).logits
    c1 = math.sin(theta)
    assert logits[0, 0].item() == pytest.approx(math.cos(theta + 0.4 + 0.2 * c1), abs=1e-6)
    assert logits[0, 1].item() == pytest.approx(1.1 * c1 + 0.2, abs=1e-6)


def test_npcface_negative_target_cosine_keeps_plain_cosine():
    head = NPCFace(NPCFaceConfig(num_classes=2, embedding_size=2, scale=1.0))
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    theta = 2.0  # cos θ_y < 0
    logits = head(torch.tensor([[math.cos(theta), math.sin(theta)]]), torch.tensor([0])).logits
    assert logits[0, 0].item() == pytest.approx(math.cos(theta), abs=1e-6)


def test_npcface_contract_on_cpu_and_finite_gradient_at_alignment():
    check_head(facex_core.build("head", "npcface", num_classes=10, embedding_size=8))
    head = NPCFace(NPCFaceConfig(num_classes=3, embedding_size=4))
    emb = head.weight.detach()[:2].clone().requires_grad_(True)  # cos θ_y = 1 exactly
    head(emb, torch.tensor([0, 1])).loss.backward()
    assert torch.isfinite(emb.grad).all() and torch.isfinite(head.weight.grad).all()


def test_npcface_bf16_autocast_gives_finite_loss_and_gradients():
    torch.manual_seed(0)
    head = facex_core.build("head", "npcface", num_classes=10, embedding_size=8)
    emb = torch.randn(6, 8, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = head(emb, torch.tensor([0, 1, 2, 3, 4, 5]))
    out.total_loss.backward()
    assert torch.isfinite(out.loss) and torch.isfinite(emb.grad).all() and torch.isfinite(head.weight.grad).all()


def test_npcface_partial_fc_gives_finite_loss_and_sampled_logits():
    torch.manual_seed(0)
    head = facex_core.build("head", "npcface", num_classes=10, embedding_size=8,
                            classifier={"sample_rate": 0.5})
    emb = torch.randn(6, 8, requires_grad=True)
    out = head(emb, torch.tensor([0, 1, 1, 4, 4, 7]))
    out.loss.backward()
    assert out.logits.shape == (6, 5) and torch.isfinite(out.loss) and torch.isfinite(emb.grad).all()


def _rank_main(rank, world, init_file, emb, labels, weight, queue):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    head = NPCFace(NPCFaceConfig(num_classes=weight.shape[0], embedding_size=weight.shape[1], scale=16.0))
    c = head.classifier
    with torch.no_grad():
        c.weight.copy_(weight[c.class_start:c.class_start + c.num_local])
    n = emb.shape[0] // world
    local = emb[rank * n:(rank + 1) * n].clone().requires_grad_(True)
    out = head(local, labels[rank * n:(rank + 1) * n])
    out.loss.backward()
    queue.put((rank, out.loss.item(), local.grad.numpy(), c.weight.grad.numpy(), c.class_start, c.num_local))
    dist.destroy_process_group()


def test_npcface_sharded_over_two_gloo_ranks_equals_single_process(tmp_path):
    torch.manual_seed(3)
    # scale 16 keeps every per-sample loss below the core's sharded-CE clamp (p ≥ 1e-30, loss ≤ 69)
    single = NPCFace(NPCFaceConfig(num_classes=11, embedding_size=6, scale=16.0))
    labels = torch.tensor([0, 10, 4, 5, 6, 6, 9, 2])
    emb = near_own_centres(single, labels, noise=0.8).float()
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
    for rank, loss, g_emb, g_w, start, num in results:
        assert loss == pytest.approx(out.loss.item(), abs=1e-5)
        torch.testing.assert_close(torch.from_numpy(g_emb), e.grad[rank * 4:(rank + 1) * 4],
                                   atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(torch.from_numpy(g_w), single.weight.grad[start:start + num],
                                   atol=1e-5, rtol=1e-4)
