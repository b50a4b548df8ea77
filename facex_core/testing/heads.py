"""Checks of margin heads against independent computations: references, autocast, Partial FC, sharding."""
from __future__ import annotations

import functools
import queue as queue_mod
import tempfile
import time
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _assert_finite_step(head: Any, emb: Any, out: Any, when: str) -> None:
    assert torch.isfinite(out.total_loss), f"non-finite loss {when}"
    assert torch.isfinite(emb.grad).all(), f"non-finite embedding gradient {when}"
    for name, p in head.named_parameters():
        if p.grad is not None:
            assert torch.isfinite(p.grad).all(), f"non-finite gradient of {name} {when}"


def check_head_autocast(head: Any, dtype: str = "bfloat16", batch: int = 6) -> None:
    """Under CPU autocast (bf16 by default) the loss and every gradient stay finite."""
    emb = torch.randn(batch, head.embedding_size, requires_grad=True)
    labels = torch.arange(batch, dtype=torch.int64) % head.num_classes
    head.train()
    with torch.autocast("cpu", dtype=getattr(torch, dtype)):
        out = head(emb, labels)
    out.total_loss.backward()
    _assert_finite_step(head, emb, out, f"under {dtype} autocast")


def check_head_partial_fc(head: Any, batch: int = 6) -> None:
    """With Partial FC (``classifier={"sample_rate": r < 1}``) the head sees only the sampled columns."""
    rate = head.classifier.config.sample_rate
    assert rate < 1.0, "build the head with classifier={'sample_rate': r < 1}"
    emb = torch.randn(batch, head.embedding_size, requires_grad=True)
    labels = torch.arange(batch, dtype=torch.int64) % head.num_classes
    head.train()
    out = head(emb, labels)
    out.total_loss.backward()
    expected = max(int(rate * head.num_classes), len(set(labels.tolist())))
    assert out.logits.shape == (batch, expected), f"logits {tuple(out.logits.shape)}, expected {(batch, expected)}"
    assert torch.isfinite(out.total_loss) and torch.isfinite(emb.grad).all()
    assert out.targets is not None and bool((out.targets >= 0).all())


def _shard_like(full: Any, local_shape: tuple, start: int, num_local: int) -> Any:
    return full if tuple(full.shape) == tuple(local_shape) else full[start:start + num_local]


def _sharded_rank(rank: int, world: int, init_file: str, build: Any, emb: Any, labels: Any,
                  state: dict, queue: Any) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        head = build()
        c = head.classifier
        local_state = {k: _shard_like(v, tuple(head.state_dict()[k].shape), c.class_start, c.num_local)
                       for k, v in state.items()}
        head.load_state_dict(local_state)
        head.train()
        n = emb.shape[0] // world
        local = emb[rank * n:(rank + 1) * n].clone().requires_grad_(True)
        out = head(local, labels[rank * n:(rank + 1) * n])
        out.total_loss.backward()
        grads = {k: p.grad.numpy().copy() for k, p in head.named_parameters() if p.grad is not None}
        buffers = {k: b.numpy().copy() for k, b in head.named_buffers()}
        # numpy copies: shared-memory tensors would vanish when this process exits
        queue.put((rank, float(out.loss.detach()), {k: float(v.detach()) for k, v in out.extra_losses.items()},
                   local.grad.numpy().copy(), grads, buffers, c.class_start, c.num_local))
    finally:
        dist.destroy_process_group()


def collect_results(queue: Any, procs: list, timeout: float = 300.0) -> list:
    """One result per process; fails at once (not after the timeout) when a process dies."""
    results, deadline = [], time.monotonic() + timeout
    while len(results) < len(procs):
        try:
            results.append(queue.get(timeout=0.5))
        except queue_mod.Empty:
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            assert not dead, f"a rank process failed with exit code {dead[0]}"
            assert time.monotonic() < deadline, "rank processes timed out"
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0, f"rank process exited with {p.exitcode}"
    return results


def check_head_sharded(build: Any, world: int = 2, batch: int = 8, seed: int = 0,
                       atol: float = 1e-6, rtol: float = 1e-4) -> None:
    """Model-parallel head over ``world`` gloo processes equals one process on the same global batch
    (losses, gradients, buffers); ``build`` is a picklable zero-argument callable returning the head."""
    torch.manual_seed(seed)
    single = build()
    single.train()
    emb = torch.randn(batch, single.embedding_size) * 3
    labels = torch.randint(0, single.num_classes, (batch,), dtype=torch.int64)
    state = {k: v.detach().clone() for k, v in single.state_dict().items()}
    e = emb.clone().requires_grad_(True)
    out = single(e, labels)
    out.total_loss.backward()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    with tempfile.TemporaryDirectory() as tmp:
        procs = [ctx.Process(target=_sharded_rank,
                             args=(r, world, f"{tmp}/store", build, emb, labels, state, queue))
                 for r in range(world)]
        for p in procs:
            p.start()
        results = sorted(collect_results(queue, procs), key=lambda r: r[0])
    n = batch // world
    close = functools.partial(np.testing.assert_allclose, rtol=rtol, atol=atol)
    params, single_buffers = dict(single.named_parameters()), dict(single.named_buffers())
    for rank, loss, extras, g_emb, grads, buffers, start, num in results:
        close(loss, float(out.loss.detach()), err_msg="loss")
        for k, v in extras.items():
            close(v, float(out.extra_losses[k].detach()), err_msg=k)
        close(g_emb, e.grad[rank * n:(rank + 1) * n].numpy(), err_msg="embedding gradient")
        for k, g in grads.items():
            close(g, _shard_like(params[k].grad, g.shape, start, num).numpy(), err_msg=f"gradient of {k}")
        for k, b in buffers.items():
            close(b, _shard_like(single_buffers[k], b.shape, start, num).numpy(), err_msg=f"buffer {k}")


def reference_cosines(embeddings: Any, weight: Any) -> Any:
    """N×C cosines by an explicit loop over samples and classes (float64), independent of the core's."""
    rows = []
    for i in range(embeddings.shape[0]):
        x = embeddings[i].double() / embeddings[i].double().norm()
        rows.append(torch.stack([(x * weight[j].double() / weight[j].double().norm()).sum()
                                 for j in range(weight.shape[0])]))
    return torch.stack(rows).clamp(-1.0, 1.0)


def reference_cross_entropy(logits: Any, labels: Any) -> Any:
    """Mean of ``log Σ_j exp(z_ij) − z_iy`` written out per sample (float64)."""
    return torch.stack([torch.logsumexp(logits[i].double(), 0) - logits[i, int(labels[i])].double()
                        for i in range(logits.shape[0])]).mean()


def check_head_matches_reference(head: Any, embeddings: Any, labels: Any,
                                 reference: Callable[[Any, dict], dict], *,
                                 logits_tol: tuple[float, float] = (1e-5, 1e-4),
                                 loss_tol: tuple[float, float] = (1e-5, 1e-5),
                                 grad_tol: tuple[float, float] = (1e-4, 1e-5),
                                 extra_tol: tuple[float, float] | None = None) -> Any:
    """One training step of ``head`` equals ``reference(embeddings, params)`` (leaf copies; returns ``"loss"``,
    optionally ``"logits"``, and each extra loss) in logits, losses and every gradient; returns the output."""
    def close(actual: Any, expected: Any, tol: tuple[float, float], what: str) -> None:
        torch.testing.assert_close(actual.detach().double(), expected.detach().double(), rtol=tol[0], atol=tol[1],
                                   msg=lambda m: f"{what}: {m}")

    head.train()
    emb = embeddings.detach().clone().requires_grad_(True)
    out = head(emb, labels)
    out.total_loss.backward()
    ref_emb = embeddings.detach().clone().requires_grad_(True)
    params = {k: p.detach().clone().requires_grad_(True) for k, p in head.named_parameters()}
    ref = reference(ref_emb, params)
    extras = sorted(k for k in ref if k not in ("loss", "logits"))
    assert extras == sorted(out.extra_losses), f"extra losses {sorted(out.extra_losses)}, reference {extras}"
    sum((ref[k] for k in extras), ref["loss"]).backward()
    if "logits" in ref:
        close(out.logits, ref["logits"], logits_tol, "logits")
    close(out.loss, ref["loss"], loss_tol, "loss")
    for k in extras:
        close(out.extra_losses[k], ref[k], extra_tol or loss_tol, k)
    close(emb.grad, ref_emb.grad, grad_tol, "embedding gradient")
    for k, p in head.named_parameters():
        expected = params[k].grad if params[k].grad is not None else torch.zeros_like(params[k])
        actual = p.grad if p.grad is not None else torch.zeros_like(p)
        close(actual, expected, grad_tol, f"gradient of {k}")
    return out


def check_head_at_alignment(head: Any, norm: float | None = None) -> None:
    """Embeddings exactly on their class centres (cos θ_y = 1, where acos and sqrt(1 − cos²) have an
    infinite slope) give a finite loss and gradients; ``norm`` rescales them (norm-dependent margins)."""
    w = head.weight.detach()
    centres = (w if w.dim() == 2 else w[:, 0])[:2].clone()
    if norm is not None:
        centres = torch.nn.functional.normalize(centres, dim=1) * norm
    emb = centres.requires_grad_(True)
    head.train()
    out = head(emb, torch.arange(2, dtype=torch.int64))
    out.total_loss.backward()
    _assert_finite_step(head, emb, out, "at exact alignment")
