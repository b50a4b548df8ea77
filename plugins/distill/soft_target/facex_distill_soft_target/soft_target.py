"""Soft targets (Hinton, Vinyals & Dean 2015): the student matches the teacher's class distribution
softened by a temperature T, paper Eq. (1) ``q_i = exp(z_i / T) / Σ_j exp(z_j / T)``; the cross
entropy with these soft targets is, up to the teacher's (constant) entropy, the KL divergence, and
its gradients scale as 1/T², so the term is multiplied by T² (§2 of the paper)::

    L = T² · 1/N Σ_n Σ_c p^T_nc (log p^T_nc − log p^S_nc),    p = softmax(z / T)

As in FaceX-Zoo's KDF, the logits are each network's head output (margin logits of the sample's
own class included), and the mean is over samples (``kl_div(reduction="batchmean")``).
"""
from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from facex_core import DistillLoss

from .plugin import SoftTargetConfig


class SoftTarget(DistillLoss):
    """``loss(student_logits, teacher_logits)`` → ``T² · mean_n KL(p_T ‖ p_S)``."""

    takes: ClassVar[str] = "logits"

    def __init__(self, config: SoftTargetConfig | None = None) -> None:
        super().__init__(config or SoftTargetConfig())
        self.T = float(self.config.T)

    def extra_repr(self) -> str:
        return f"T={self.T}"

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        if student.shape != teacher.shape:
            raise ValueError(f"soft_target: student logits {tuple(student.shape)} and teacher logits "
                             f"{tuple(teacher.shape)} differ in shape (the same identities on both?)")
        log_p_s = F.log_softmax(student / self.T, dim=1)
        log_p_t = F.log_softmax(teacher.detach() / self.T, dim=1)
        kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=1)
        return kl.mean() * self.T * self.T
