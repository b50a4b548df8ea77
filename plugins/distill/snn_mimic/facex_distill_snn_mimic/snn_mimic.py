"""SNN-MIMIC (Ba & Caruana, NeurIPS 2014): a shallow student learns to *mimic* the teacher by
regressing its logits (the inputs of the softmax) with an L2 loss, §2.2 of the paper:

    L = 1/(2T) Σ_t ‖g(x_t; β) − z_t‖²₂        (z: teacher logits, g: student logits, T samples)

FaceX (like FaceX-Zoo's KDF ``SNN_MIMIC``) takes the mean over samples *and* logit columns,
``L = 1/(N·C) Σ_i Σ_c (s_ic − t_ic)²``: the paper's value times 2/C, a constant the term's weight
absorbs, and a scale that does not grow with the number of identities.
"""
from __future__ import annotations

from typing import ClassVar

import torch

from facex_core import DistillLoss


class SNNMimic(DistillLoss):
    """``loss(student_logits, teacher_logits)`` → mean squared difference (N×C each)."""

    takes: ClassVar[str] = "logits"

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        if student.shape != teacher.shape:
            raise ValueError(f"snn_mimic: student logits {tuple(student.shape)} and teacher logits "
                             f"{tuple(teacher.shape)} differ in shape")
        return (student - teacher.detach()).pow(2).mean()
