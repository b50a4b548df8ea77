"""Relational knowledge distillation (Park et al., CVPR 2019, §3): the student reproduces the
*relations* between the batch's samples rather than the samples' outputs.

Distance-wise (§3.1)::

    ψ_D(t_i, t_j) = ‖t_i − t_j‖₂ / μ,   μ = mean of ‖t_i − t_j‖₂ over the pairs i ≠ j
    L_D = mean over ordered pairs i ≠ j of l_δ(ψ_D(t_i, t_j), ψ_D(s_i, s_j))

Angle-wise (§3.2), the angle at vertex ``t_j``::

    ψ_A(t_i, t_j, t_k) = ⟨e_ij, e_kj⟩,   e_ij = (t_i − t_j) / ‖t_i − t_j‖₂
    L_A = mean over triplets of distinct i, j, k of l_δ(ψ_A(t_i, t_j, t_k), ψ_A(s_i, s_j, s_k))

with the Huber loss ``l_δ(x, y) = ½(x − y)²`` if ``|x − y| ≤ 1`` else ``|x − y| − ½``, and
``L = λ_D L_D + λ_A L_A`` (defaults 25 and 50, the values of FaceX-Zoo's KDF and KD-Zoo). The
paper sums over the pairs and triplets; FaceX averages over the *distinct* ones. The reference code
(and KDF) averages over all N² pairs and N³ triplets, degenerate ones included (they contribute 0),
i.e. it scales L_D by (N − 1)/N and L_A by (N − 1)(N − 2)/N². The embedding sizes may differ.
"""
from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from facex_core import DistillLoss

from .plugin import RKDConfig


def pair_distances(x: torch.Tensor) -> torch.Tensor:
    """‖x_i − x_j‖₂ for the ordered pairs i ≠ j (row-major order), ``N(N−1)`` values."""
    diff = x.unsqueeze(1) - x.unsqueeze(0)
    off = ~torch.eye(x.shape[0], dtype=torch.bool, device=x.device)
    return diff[off].pow(2).sum(dim=1).clamp_min(1e-12).sqrt()


def triplet_angles(x: torch.Tensor) -> torch.Tensor:
    """``⟨e_ij, e_kj⟩`` for the triplets of distinct (i, j, k), vertex j (the order of a j, i, k loop)."""
    n = x.shape[0]
    e = F.normalize(x.unsqueeze(0) - x.unsqueeze(1), dim=2)  # e[j, i] = unit(x_i − x_j)
    cos = torch.bmm(e, e.transpose(1, 2))                      # cos[j, i, k] = ⟨e_ij, e_kj⟩
    idx = torch.arange(n, device=x.device)
    j, i, k = idx.view(n, 1, 1), idx.view(1, n, 1), idx.view(1, 1, n)
    return cos[(i != j) & (k != j) & (i != k)]


class RKD(DistillLoss):
    """``loss(student_embeddings, teacher_embeddings)`` → ``λ_D L_D + λ_A L_A``."""

    takes: ClassVar[str] = "embeddings"
    #: Only the batch's relations are compared: the embedding sizes may differ.
    match_channels: ClassVar[bool] = False

    def __init__(self, config: RKDConfig | None = None) -> None:
        super().__init__(config or RKDConfig())
        self.distance_weight = float(self.config.distance_weight)
        self.angle_weight = float(self.config.angle_weight)

    def extra_repr(self) -> str:
        return f"distance_weight={self.distance_weight}, angle_weight={self.angle_weight}"

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        if student.shape[0] != teacher.shape[0] or student.shape[0] < 3:
            raise ValueError(f"rkd: needs the same batch (>= 3 samples) on both sides, got {student.shape[0]} "
                             f"and {teacher.shape[0]}")
        s, t = student.flatten(1), teacher.detach().flatten(1)
        loss = s.new_zeros(())
        if self.distance_weight:
            d_s = pair_distances(s)
            with torch.no_grad():
                d_t = pair_distances(t)
                d_t = d_t / d_t.mean()
            loss = loss + self.distance_weight * F.smooth_l1_loss(d_s / d_s.mean(), d_t, beta=1.0)
        if self.angle_weight:
            with torch.no_grad():
                a_t = triplet_angles(t)
            loss = loss + self.angle_weight * F.smooth_l1_loss(triplet_angles(s), a_t, beta=1.0)
        return loss
