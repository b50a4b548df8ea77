"""The mechanics of Semi-Siamese Training: prototype queue, momentum gallery network, shuffle-BN.

Notation follows FaceX-Zoo's ``SST_Prototype`` and ``semi-siamese_training/train.py``: for a batch of
B identities with two views ``x1``, ``x2`` each, the probe network gives ``p1 = p(x1)``,
``p2 = p(x2)`` (with gradient) and the gallery network ``g1 = g(x1)``, ``g2 = g(x2)`` (without).
The gallery features of the *other* view are the positive prototypes: ``p1`` is classified against
the queue whose current batch slots hold ``g2``, ``p2`` against the queue holding ``g1``.

One optimiser step may span several micro-batches (gradient accumulation) and several processes
(DDP): the gallery features of the *whole* step are computed first, and every probe row is scored
against a queue whose step slots hold all of them, the row's own positive at the slot its position in
the step's global batch gives. The step is then the same computation as one batch in one process.

Everything lives on the device of its inputs (no ``.cuda()``); the queue, its labels and its write
pointer are registered buffers, so they are part of ``state_dict()`` and survive checkpoint/resume.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from facex_core import HeadOutput, replace_target, safe_sin, world_rank


class PrototypeQueue(nn.Module):
    """A FIFO of ``queue_size`` unit-length identity prototypes (columns of a D×Q buffer).

    :meth:`forward` scores probe features against the queue with the current step's slots
    replaced by gallery features (the queue itself is not changed); :meth:`enqueue` then writes one
    step of gallery features and their identity labels and advances the pointer.
    """

    def __init__(self, embedding_size: int, queue_size: int, scale: float = 32.0,
                 loss_type: str = "am_softmax", margin: float = 0.35) -> None:
        super().__init__()
        if loss_type not in ("am_softmax", "arc_softmax", "softmax"):
            raise ValueError(f"loss_type must be 'am_softmax', 'arc_softmax' or 'softmax', got {loss_type!r}")
        self.embedding_size = embedding_size
        self.queue_size = queue_size
        self.scale = float(scale)
        self.loss_type = loss_type
        self.margin = float(margin)
        # random unit columns, like FaceX-Zoo (uniform in [-1, 1], then L2-normalised per column)
        init = torch.empty(embedding_size, queue_size).uniform_(-1.0, 1.0)
        self.register_buffer("queue", F.normalize(init, dim=0))
        #: identity label stored in each slot; -1 = never written
        self.register_buffer("labels", torch.full((queue_size,), -1, dtype=torch.long))
        #: first slot the next batch is written to (always a multiple of the batch size)
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))

    def extra_repr(self) -> str:
        return (f"embedding_size={self.embedding_size}, queue_size={self.queue_size}, scale={self.scale}, "
                f"loss_type={self.loss_type!r}, margin={self.margin}")

    def _slots(self, batch: int) -> int:
        start = int(self.pointer)
        if batch < 1 or start + batch > self.queue_size:
            raise ValueError(f"a batch of {batch} does not fit the queue at slot {start} of {self.queue_size} "
                             "(queue_size must be a multiple of the batch size)")
        return start

    def identities(self) -> torch.Tensor:
        """Sorted distinct labels currently held in the queue (empty slots left out)."""
        return torch.unique(self.labels[self.labels >= 0])

    def logits(self, probe: torch.Tensor, gallery: torch.Tensor,
               rows: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Scaled margin logits (N×Q) of ``probe`` against the queue with the step's slots = ``gallery``.

        ``gallery`` holds the gallery features of the whole step (S rows, written to slots
        ``pointer … pointer + S − 1``); ``rows`` gives each probe row's position in the step
        (default ``0 … N − 1``, i.e. the step is this batch). Returns ``(logits, target)``: row
        ``i``'s positive is column ``pointer + rows[i]``.
        """
        step = gallery.shape[0]
        start = self._slots(step)
        if rows is None:
            rows = torch.arange(probe.shape[0])
        target = start + rows.to(probe.device)
        # float32 even under autocast: the angular margin takes sqrt(1 - cos²) near cos = ±1
        with torch.autocast(probe.device.type, enabled=False):
            p = F.normalize(probe.float(), dim=1)
            g = F.normalize(gallery.detach().float(), dim=1)
            bank = self.queue.float().clone()
            bank[:, start:start + step] = g.t()
            cos = (p @ bank).clamp(-1.0, 1.0)
            if self.loss_type != "softmax":
                cos_y = cos.gather(1, target[:, None]).squeeze(1)
                if self.loss_type == "am_softmax":
                    cos_m = cos_y - self.margin
                else:  # arc_softmax: cos(θ + m) (no fallback past π, as in FaceX-Zoo)
                    cos_m = cos_y * math.cos(self.margin) - safe_sin(cos_y) * math.sin(self.margin)
                cos = replace_target(cos, target, cos_m)
            return cos * self.scale, target

    def forward(self, p1: torch.Tensor, g2: torch.Tensor, p2: torch.Tensor, g1: torch.Tensor,
                rows: torch.Tensor | None = None) -> HeadOutput:
        """``loss = ½ (CE(logits(p1, g2)) + CE(logits(p2, g1)))``; logits/targets of both halves stacked."""
        logits1, target = self.logits(p1, g2, rows)
        logits2, _ = self.logits(p2, g1, rows)
        loss = 0.5 * (F.cross_entropy(logits1, target) + F.cross_entropy(logits2, target))
        return HeadOutput(loss=loss, logits=torch.cat([logits1, logits2]), targets=torch.cat([target, target]))

    @torch.no_grad()
    def enqueue(self, gallery: torch.Tensor, labels: torch.Tensor) -> None:
        """Write L2-normalised ``gallery`` features and their ``labels`` at the pointer; advance it."""
        batch = gallery.shape[0]
        start = self._slots(batch)
        self.queue[:, start:start + batch] = F.normalize(gallery.float(), dim=1).t().to(self.queue.dtype)
        self.labels[start:start + batch] = labels.to(self.labels.device, torch.long)
        self.pointer.fill_((start + batch) % self.queue_size)


@torch.no_grad()
def momentum_update(gallery: nn.Module, probe: nn.Module, alpha: float) -> None:
    """θ_g ← α·θ_g + (1 − α)·θ_p for every parameter (buffers such as BN statistics are left alone,
    as in FaceX-Zoo: the gallery's BatchNorm layers keep their own running statistics)."""
    pg, pp = list(gallery.parameters()), list(probe.parameters())
    if len(pg) != len(pp):
        raise ValueError("gallery and probe networks have different parameters")
    for g, p in zip(pg, pp):
        g.mul_(alpha).add_(p.detach(), alpha=1.0 - alpha)


def set_gallery_mode(net: nn.Module) -> nn.Module:
    """Eval mode (dropout off, ...) except BatchNorm, which keeps using batch statistics."""
    net.eval()
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.train()
    return net


def inverse_permutation(perm: torch.Tensor) -> torch.Tensor:
    """``inv`` with ``inv[perm[k]] = k``."""
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(perm.numel(), device=perm.device)
    return inv


def gather_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """The rank-ordered concatenation of ``tensor`` (same shape on every rank) over all processes."""
    world, _ = world_rank()
    if world == 1:
        return tensor
    import torch.distributed as dist

    parts = [torch.empty_like(tensor) for _ in range(world)]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


@torch.no_grad()
def shuffled_forward(net: nn.Module, images: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """MoCo's shuffle-BN: run ``net`` on the batch in ``perm`` order and return rows in input order.

    Under DDP the batch is that of all ranks (rank-ordered, ``perm`` over all of it, the same on every
    rank): each rank runs ``net`` on its share of the shuffled batch, so BatchNorm statistics mix
    samples of all ranks, and every rank gets the features of the whole batch back in input order.
    """
    world, rank = world_rank()
    every = gather_ranks(images)
    perm = perm.to(every.device)
    share = every.shape[0] // world
    mine = every[perm][rank * share:(rank + 1) * share]
    if images.dim() == 4 and images.is_contiguous(memory_format=torch.channels_last):
        mine = mine.contiguous(memory_format=torch.channels_last)
    return gather_ranks(net(mine).float())[inverse_permutation(perm)]


class SSTModel(nn.Module):
    """Probe network (``backbone``, trained), gallery network (``gallery``, momentum copy) and the
    prototype queue. State-dict keys: ``backbone.*`` (so the core's evaluation and export load the
    probe like any FaceX checkpoint), ``gallery.*`` and ``prototype.{queue,labels,pointer}``.

    :meth:`forward` is the part with gradients, ``(p(x1), p(x2))``; the engine wraps it in DDP or
    ``torch.compile``. The gallery features come from :func:`shuffled_forward` on ``gallery``.
    """

    def __init__(self, backbone: nn.Module, prototype: PrototypeQueue) -> None:
        super().__init__()
        self.backbone = backbone
        self.gallery = copy.deepcopy(backbone)  # θ_g = θ_p at the start (FaceX-Zoo: moving average with α = 0)
        self.gallery.requires_grad_(False)
        self.prototype = prototype
        set_gallery_mode(self.gallery)

    def train(self, mode: bool = True) -> "SSTModel":
        super().train(mode)
        if mode:
            set_gallery_mode(self.gallery)
        return self

    def momentum_update(self, alpha: float) -> None:
        momentum_update(self.gallery, self.backbone, alpha)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Probe features of both views (FaceX-Zoo's order: p(x1), then p(x2))."""
        return self.backbone(x1), self.backbone(x2)
