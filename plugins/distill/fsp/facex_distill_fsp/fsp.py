"""FSP matrices (Yim et al., CVPR 2017, §3): the "flow of solution procedure" between two layers of
one network is the matrix of inner products of their channels, paper Eq. (1)::

    G_ij(x) = Σ_{s=1..h} Σ_{t=1..w} F¹_{s,t,i}(x) · F²_{s,t,j}(x) / (h × w)

and the student matches the teacher's FSP matrices, paper Eq. (2)::

    L_FSP = 1/N Σ_x Σ_i λ_i ‖G_i^T(x) − G_i^S(x)‖²₂

Both sides are a sequence of ``k ≥ 2`` maps (the term's taps, in forward order); the pairs are
consecutive maps ``(1, 2), (2, 3), …``, each of weight ``λ_i = 1/(k − 1)`` (the paper weights them
equally). When the two maps of a pair differ in size, the larger is average-pooled to the smaller
(FaceX-Zoo's KDF pools the first to the second). As in KDF the squared norm is averaged over the
matrix entries (``mse_loss``): the paper's value divided by ``C₁·C₂``.
"""
from __future__ import annotations

from typing import ClassVar, Sequence

import torch
import torch.nn.functional as F

from facex_core import DistillLoss


def fsp_matrix(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """``N × C₁ × C₂`` FSP matrices of two maps of one network (the larger pooled to the smaller size)."""
    h, w = min(first.shape[2], second.shape[2]), min(first.shape[3], second.shape[3])
    if first.shape[2:] != (h, w):
        first = F.adaptive_avg_pool2d(first, (h, w))
    if second.shape[2:] != (h, w):
        second = F.adaptive_avg_pool2d(second, (h, w))
    a = first.flatten(2)                   # N × C₁ × hw
    b = second.flatten(2).transpose(1, 2)  # N × hw × C₂
    return torch.bmm(a, b) / (h * w)


class FSP(DistillLoss):
    """``loss([student maps], [teacher maps])`` → mean over consecutive pairs of the FSP-matrix MSE."""

    takes: ClassVar[str] = "feature_maps"
    #: Student and teacher maps may differ in size (each side's pair is pooled on its own), not in channels.
    match_size: ClassVar[bool] = False

    def forward(self, student: Sequence[torch.Tensor], teacher: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(student) != len(teacher) or len(student) < 2:
            raise ValueError(f"fsp: needs the same number (>= 2) of student and teacher maps, got {len(student)} "
                             f"and {len(teacher)}")
        pairs = len(student) - 1
        total = student[0].new_zeros(())
        for i in range(pairs):
            g_s = fsp_matrix(student[i], student[i + 1])
            with torch.no_grad():
                g_t = fsp_matrix(teacher[i].detach(), teacher[i + 1].detach())
            if g_s.shape != g_t.shape:
                raise ValueError(f"fsp: pair {i + 1}: student FSP matrix {tuple(g_s.shape[1:])} and teacher "
                                 f"{tuple(g_t.shape[1:])} differ (the channels must agree: use adapters)")
            total = total + (g_s - g_t).pow(2).mean()
        return total / pairs
