"""Probabilistic knowledge transfer (Passalis & Tefas, ECCV 2018, §3): each sample's neighbours in
the batch form a probability distribution, estimated with a kernel, and the student's distributions
are fitted to the teacher's by the KL divergence. With the cosine-similarity kernel the paper
recommends (§3.2; no bandwidth to tune)::

    K(a, b) = ½ (aᵀb / (‖a‖₂ ‖b‖₂) + 1)                        ∈ [0, 1]
    p_{j|i} = K(x_j, x_i) / Σ_{k ≠ i} K(x_k, x_i)               (j ≠ i; teacher p, student q)
    L = 1/N Σ_i Σ_{j ≠ i} p_{j|i} log(p_{j|i} / q_{j|i})

Self-pairs are excluded, as in the paper's conditional probabilities; the paper sums over anchors,
FaceX averages (÷ N). A small ``EPS = 1e-7`` is added inside the logarithm (both sides), as the
authors' code does. The authors' code (and FaceX-Zoo's KDF ``PKTCosSim``) keeps the diagonal
``K(x_i, x_i) = 1`` and averages over all N² entries, a slightly different normalisation.
Embedding sizes may differ: only the N×N similarities are compared.
"""
from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from facex_core import DistillLoss

#: Added to both probabilities inside the logarithm (the authors' code: 1e-7).
EPS = 1e-7


def neighbour_probabilities(x: torch.Tensor) -> torch.Tensor:
    """``P[i, j] = p_{j|i}``: row ``i`` is sample ``i``'s distribution over the other samples (diagonal 0)."""
    x = F.normalize(x.flatten(1), dim=1)
    kernel = (x @ x.t() + 1.0) / 2.0
    kernel = kernel * (1.0 - torch.eye(x.shape[0], dtype=x.dtype, device=x.device))
    return kernel / kernel.sum(dim=1, keepdim=True)


class PKT(DistillLoss):
    """``loss(student_embeddings, teacher_embeddings)`` → mean KL of the neighbour distributions."""

    takes: ClassVar[str] = "embeddings"
    #: Only the batch's similarities are compared: the embedding sizes may differ.
    match_channels: ClassVar[bool] = False

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        if student.shape[0] != teacher.shape[0] or student.shape[0] < 3:
            raise ValueError(f"pkt: needs the same batch (>= 3 samples) on both sides, got {student.shape[0]} "
                             f"and {teacher.shape[0]}")
        q = neighbour_probabilities(student)
        with torch.no_grad():
            p = neighbour_probabilities(teacher.detach())
        off = ~torch.eye(p.shape[0], dtype=torch.bool, device=p.device)
        kl = p * torch.log((p + EPS) / (q + EPS))
        return kl[off].sum() / p.shape[0]
