"""AdaDistill against a per-sample loop from the method's steps (momentum, centre update, margin
softmax), gradients and centres included; eval mode; two gloo processes share one centre update."""
import math

import pytest
import torch
import torch.multiprocessing as mp

import facex_core
from facex_core.testing import assert_light_module, check_distill_loss_matches_reference, collect_results
from facex_distill_adadistill.adadistill import AdaDistill, last_occurrence
from facex_distill_adadistill.plugin import AdaDistillConfig


def unit(v):
    return v / torch.sqrt((v * v).sum())


def reference_step(centers, s, t, labels, scale, margin, arc, eps=1e-6):
    """One training step written per sample: (centres after the update, mean margin-softmax CE)."""
    n = s.shape[0]
    sh, th = [unit(s[i]) for i in range(n)], [unit(t[i]) for i in range(n)]
    alphas = []
    for i in range(n):  # step 1, from the centres before the update (no gradient)
        w, si, ti = centers[labels[i]], sh[i].detach(), th[i].detach()
        lam = min(max(float((w * ti).sum() / torch.sqrt((w * w).sum())), eps), 1.0)
        alphas.append(min(max(float((si * ti).sum()) * lam, eps), 1.0))
    new = centers.clone()
    for i in range(n):  # step 2: a class takes the update of its last occurrence in the batch
        y = int(labels[i])
        if all(int(labels[k]) != y for k in range(i + 1, n)):
            new[y] = alphas[i] * centers[y] + (1 - alphas[i]) * th[i].detach()
    total = 0
    for i in range(n):  # step 3
        y = int(labels[i])
        z = []
        for j in range(new.shape[0]):
            c = (sh[i] * unit(new[j])).sum()
            if j == y:
                c = torch.cos(torch.acos(c) + margin) if arc else c - margin
            z.append(scale * c)
        z = torch.stack(z)
        total = total + torch.logsumexp(z, 0) - z[y]
    return new, total / n


def test_registration_is_light_and_sizes_must_be_given():
    assert_light_module("facex_distill_adadistill.plugin")
    loss = facex_core.build("distill_loss", "adadistill", num_classes=5, embedding_size=4)
    assert loss.takes == "embeddings" and loss.needs_labels and loss.centers.shape == (5, 4)
    assert (loss.scale, loss.margin, loss.arc) == (64.0, 0.45, True)
    with pytest.raises(ValueError, match="num_classes and embedding_size"):
        facex_core.build("distill_loss", "adadistill")


@pytest.mark.parametrize("margin_type", ["arcface", "cosface"])
def test_step_matches_per_sample_loop(margin_type):
    torch.manual_seed(8)
    cfg = AdaDistillConfig(num_classes=4, embedding_size=3, margin_type=margin_type, scale=8.0, margin=0.3)
    loss = AdaDistill(cfg).double().train()
    teacher = torch.randn(6, 3, dtype=torch.float64)
    student = teacher + 0.8 * torch.randn(6, 3, dtype=torch.float64)  # a mix of aligned and not
    labels = torch.tensor([2, 0, 2, 3, 1, 2])  # class 2 three times: its last occurrence wins
    centers = loss.centers.clone()
    centers[0] = teacher[1] * 3.0  # a centre close to its teacher embedding: α far from ε
    loss.centers.copy_(centers)
    expected_centers, _ = reference_step(centers, student, teacher, labels, 8.0, 0.3, margin_type == "arcface")

    def reference(s, t):
        return reference_step(centers, s, t, labels, 8.0, 0.3, margin_type == "arcface")[1]

    check_distill_loss_matches_reference(loss, student, teacher, reference, rtol=1e-6, labels=labels)
    torch.testing.assert_close(loss.centers, expected_centers, rtol=1e-7, atol=1e-9)
    assert not torch.equal(loss.centers[[0, 1, 2, 3]], centers), "the batch's centres moved" 


def test_momentum_adapts_to_the_student_teacher_agreement():
    loss = AdaDistill(AdaDistillConfig(num_classes=2, embedding_size=2)).train()
    t = torch.tensor([[1.0, 0.0]])
    loss.centers.copy_(torch.tensor([[2.0, 0.0], [0.0, 1.0]]))
    loss(t.clone(), t, labels=torch.tensor([0]))  # aligned student, centre on the teacher: α = 1
    torch.testing.assert_close(loss.centers[0], torch.tensor([2.0, 0.0]))
    loss.centers.copy_(torch.tensor([[-1.0, 0.0], [0.0, 1.0]]))
    loss(t.clone(), t, labels=torch.tensor([0]))  # centre opposite the teacher: α = ε, centre ≈ teacher
    torch.testing.assert_close(loss.centers[0], torch.tensor([1.0, 0.0]), atol=1e-5, rtol=0)
    s = torch.tensor([[0.0, 1.0]])
    assert float(loss.momentum(s, t, torch.tensor([0]))) == pytest.approx(1e-6)  # orthogonal student


def test_eval_mode_keeps_the_centres_and_labels_are_required():
    loss = AdaDistill(AdaDistillConfig(num_classes=3, embedding_size=2)).eval()
    before = loss.centers.clone()
    value = loss(torch.randn(4, 2), torch.randn(4, 2), labels=torch.tensor([0, 1, 2, 0]))
    assert torch.isfinite(value) and torch.equal(loss.centers, before)
    assert "centers" in loss.state_dict()
    with pytest.raises(ValueError, match="labels"):
        loss(torch.randn(4, 2), torch.randn(4, 2))
    with pytest.raises(ValueError, match="adapter"):
        loss(torch.randn(4, 3), torch.randn(4, 2), labels=torch.tensor([0, 1, 2, 0]))


def test_last_occurrence():
    assert last_occurrence(torch.tensor([3, 1, 3, 0, 1])).tolist() == [False, False, True, True, True]


def _rank(rank, world, init_file, s, t, labels, queue):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.manual_seed(0)
    loss = AdaDistill(AdaDistillConfig(num_classes=4, embedding_size=3)).train()
    # the engine's sampler gives rank r the global rows r, r + world, ...
    loss(s[rank::world], t[rank::world], labels=labels[rank::world])
    # by value: a shared-memory tensor dies with this process if the parent has not opened it yet
    queue.put((rank, loss.centers.numpy().copy()))
    dist.destroy_process_group()


def test_two_gloo_processes_update_the_centres_like_one_global_batch(tmp_path):
    torch.manual_seed(9)
    s, t = torch.randn(6, 3), torch.randn(6, 3)
    labels = torch.tensor([1, 1, 0, 3, 1, 2])
    torch.manual_seed(0)
    single = AdaDistill(AdaDistillConfig(num_classes=4, embedding_size=3)).train()
    single(s, t, labels=labels)
    queue = mp.get_context("spawn").Queue()
    ctx = mp.start_processes(_rank, (2, str(tmp_path / "store"), s, t, labels, queue), nprocs=2, join=False,
                             start_method="spawn")
    results = {rank: torch.from_numpy(c) for rank, c in collect_results(queue, ctx.processes)}
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=0)
    torch.testing.assert_close(results[0], single.centers, rtol=1e-6, atol=1e-7)
