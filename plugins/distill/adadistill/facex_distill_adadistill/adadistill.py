"""AdaDistill (Boutros, Štruc & Damer, ECCV 2024, §3): knowledge distillation built into a
margin-penalty softmax loss. The student is not pulled towards the teacher sample by sample;
instead the *class centres* of its ArcFace/CosFace loss are the teacher's knowledge: they are not
learned by gradient descent but follow the teacher's embeddings of the batch's samples, as an
exponential moving average with an adaptive momentum α.

With L2-normalised student and teacher embeddings ``ŝ_i``, ``t̂_i`` of sample i of class y_i and the
class centre ``W_y`` (a row of the C×D buffer ``centers``), one training step does, in this order:

1. adaptive momentum (no gradient)::

       λ_i = clamp(cos(W_{y_i}, t̂_i), ε, 1)          similarity of the teacher to its class centre
       α_i = clamp(cos(ŝ_i, t̂_i) · λ_i, ε, 1)

2. centre update (no gradient)::

       W_{y_i} ← α_i · W_{y_i} + (1 − α_i) · t̂_i

   Early in training the student is far from the teacher (α small), so a centre is essentially the
   teacher's embedding of the latest sample: simple, instance-level knowledge. As the student
   aligns (α → 1) the centre averages the teacher's embeddings of the class: the class-level
   knowledge that a margin softmax needs;

3. the margin-penalty softmax of the student against the normalised centres::

       cos θ_ij = ŝ_iᵀ Ŵ_j,   logit_iy = s·cos(θ_iy + m)   (ArcFace)   or   s·(cos θ_iy − m)   (CosFace)
       L = 1/N Σ_i CE(logits_i, y_i)

Equation numbers: I could not check the paper's numbering here, so the docstring names the
quantities instead. The quantities and the order follow the authors' released code (``utils/
losses.py``, ``AdaptiveAArcFace`` / ``AdaptiveACosFace`` with the weighted α, the variant their
config enables); its other branch (α = cos(ŝ, t̂) minus a constant) refers to an attribute the code
never sets, so it is not offered. Differences from that code, each deterministic where the
original is not: a class that occurs several times in a batch gets the update of its *last*
occurrence (the original's indexed assignment keeps an unspecified one); under torch.distributed the
update uses the whole global batch (gathered, in the engine's sample order), so every rank holds the
same centres; the ArcFace target is ``cos θ·cos m − sin θ·sin m`` with a clamped sine (the same value
as ``cos(acos(·) + m)``, with a finite gradient at cos = ±1). Centres start as N(0, 0.01²), as there.
"""
from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F

from facex_core import DistillLoss, check_labels, replace_target, safe_sin, world_rank

from .plugin import AdaDistillConfig


def gather_global(x: torch.Tensor) -> torch.Tensor:
    """The rows of every rank's ``x`` (same shape everywhere) in the order of the global batch: the core's
    sampler gives rank ``r`` positions ``r, r + world, …``, so row ``k`` of rank ``r`` is row ``k·world + r``."""
    world, _ = world_rank()
    if world == 1:
        return x
    import torch.distributed as dist

    parts = [torch.empty_like(x) for _ in range(world)]
    dist.all_gather(parts, x.contiguous())
    return torch.stack(parts, dim=1).reshape(world * x.shape[0], *x.shape[1:])


def last_occurrence(labels: torch.Tensor) -> torch.Tensor:
    """Boolean mask of the rows that are the last occurrence of their label."""
    rows = torch.arange(labels.numel(), device=labels.device)
    last = torch.full((int(labels.max()) + 1,), -1, dtype=torch.long, device=labels.device)
    last.scatter_reduce_(0, labels, rows, reduce="amax")
    return last[labels] == rows


class AdaDistill(DistillLoss):
    """``loss(student_embeddings, teacher_embeddings, labels=labels)`` → the AdaDistill margin softmax;
    in training mode it first moves the centres of the batch's classes towards the teacher."""

    takes: ClassVar[str] = "embeddings"
    #: The student is scored against centres in the teacher's embedding space: the sizes must agree.
    match_channels: ClassVar[bool] = True
    #: ``forward`` needs the batch's labels (``loss(s, t, labels=y)``).
    needs_labels: ClassVar[bool] = True

    def __init__(self, config: AdaDistillConfig | None = None) -> None:
        super().__init__(config or AdaDistillConfig())
        cfg = self.config
        if cfg.num_classes < 1 or cfg.embedding_size < 1:
            raise ValueError("adadistill: num_classes and embedding_size must be set (the distill training mode "
                             "fills them from the data and the teacher)")
        self.num_classes, self.embedding_size = cfg.num_classes, cfg.embedding_size
        self.scale, self.margin, self.eps = float(cfg.scale), float(cfg.margin), float(cfg.eps)
        self.arc = cfg.margin_type == "arcface"
        #: C×D class centres in the teacher's embedding space (not trained by the optimiser).
        self.register_buffer("centers", torch.randn(cfg.num_classes, cfg.embedding_size) * 0.01)

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, embedding_size={self.embedding_size}, "
                f"margin_type={'arcface' if self.arc else 'cosface'}, scale={self.scale}, margin={self.margin}")

    @torch.no_grad()
    def momentum(self, student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """α_i of each row (unit ``student`` and ``teacher`` rows, current centres)."""
        centers = self.centers[labels].to(teacher.dtype)
        lam = F.cosine_similarity(centers, teacher, dim=1).clamp(self.eps, 1.0)
        return ((student * teacher).sum(dim=1).clamp(-1.0, 1.0) * lam).clamp(self.eps, 1.0)

    @torch.no_grad()
    def update_centers(self, student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor) -> None:
        """Step 2 for the (global) batch: each class present takes its last occurrence's update."""
        alpha = self.momentum(student, teacher, labels)
        keep = last_occurrence(labels)
        y, a, t = labels[keep], alpha[keep, None], teacher[keep]
        self.centers[y] = (a * self.centers[y].to(t.dtype) + (1.0 - a) * t).to(self.centers.dtype)

    def forward(self, student: torch.Tensor, teacher: torch.Tensor,  # type: ignore[override]
                labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None:
            raise ValueError("adadistill: needs the batch's labels: loss(student, teacher, labels=labels)")
        if student.shape[1] != self.embedding_size or teacher.shape[1] != self.embedding_size:
            raise ValueError(f"adadistill: expected {self.embedding_size}-d student and teacher embeddings, got "
                             f"{student.shape[1]} and {teacher.shape[1]} (give the term an adapter)")
        check_labels(labels, self.num_classes)
        s = F.normalize(student, dim=1)
        t = F.normalize(teacher.detach().to(student.dtype), dim=1)
        if self.training:
            self.update_centers(gather_global(s.detach()), gather_global(t), gather_global(labels))
        cos = (s @ F.normalize(self.centers.to(s.dtype), dim=1).t()).clamp(-1.0, 1.0)
        cos_y = cos.gather(1, labels[:, None]).squeeze(1)
        if self.arc:
            target = cos_y * math.cos(self.margin) - safe_sin(cos_y) * math.sin(self.margin)
        else:
            target = cos_y - self.margin
        return F.cross_entropy(replace_target(cos, labels, target) * self.scale, labels)
