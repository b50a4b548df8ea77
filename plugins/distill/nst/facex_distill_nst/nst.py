"""Neuron selectivity transfer (Huang & Wang 2017, §3): each channel of a map is one sample of the
layer's "neuron selectivity" distribution, the vector ``f^k ∈ R^{HW}`` of its responses,
L2-normalised; the student matches the teacher's distribution by the squared maximum mean
discrepancy with the polynomial kernel ``k(x, y) = (xᵀy + c)^d``, d = 2, c = 0 (the paper's best)::

    L = 1/C_T² Σ_{i,i'} k(f_T^i, f_T^{i'}) + 1/C_S² Σ_{j,j'} k(f_S^j, f_S^{j'}) − 2/(C_T·C_S) Σ_{i,j} k(f_S^j, f_T^i)

per sample, averaged over the batch (as FaceX-Zoo's KDF ``NST``). The channel counts may differ;
the spatial sizes must agree (the distill mode's adapter pools the student map to the teacher's).
"""
from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from facex_core import DistillLoss


def _poly_mean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``mean over (i, j) of (a_iᵀ b_j)²`` per sample: ``N`` values."""
    return torch.bmm(a, b.transpose(1, 2)).pow(2).mean(dim=(1, 2))


class NST(DistillLoss):
    """``loss(student_map, teacher_map)`` → squared MMD of the normalised channel responses."""

    takes: ClassVar[str] = "feature_map"
    #: The channel responses form a distribution: its size (the channel count) may differ.
    match_channels: ClassVar[bool] = False

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        if student.shape[0] != teacher.shape[0] or student.shape[2:] != teacher.shape[2:]:
            raise ValueError(f"nst: student map {tuple(student.shape)} and teacher map {tuple(teacher.shape)} "
                             "must agree in batch and spatial size (give the term an adapter)")
        s = F.normalize(student.flatten(2), dim=2)
        t = F.normalize(teacher.detach().flatten(2), dim=2)
        return (_poly_mean(t, t) + _poly_mean(s, s) - 2.0 * _poly_mean(s, t)).mean()
