"""FitNets hints (Romero et al., ICLR 2015, §2.2): a student layer, through a regressor ``r``, is
pulled towards a teacher layer, paper Eq. (3)::

    L_HT = ½ ‖u_h(x) − r(v_g(x))‖²

``u_h`` is the teacher's hint layer, ``v_g`` the student's guided layer. In FaceX the regressor is the
distill mode's adapter (1×1 conv + BN, resized to the teacher's map), trained with the student.
FaceX, like FaceX-Zoo's KDF ``Hint``, averages over samples and every map element,
``L = 1/(N·C·H·W) Σ (s − t)²``: the paper's per-sample value times 2/(C·H·W), a constant the
term's weight absorbs, so the scale does not grow with the map size.
"""
from __future__ import annotations

from typing import ClassVar

import torch

from facex_core import DistillLoss


class FitNet(DistillLoss):
    """``loss(student_map, teacher_map)`` → mean squared difference (N×C×H×W each)."""

    takes: ClassVar[str] = "feature_map"

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        if student.shape != teacher.shape:
            raise ValueError(f"fitnet: student map {tuple(student.shape)} and teacher map {tuple(teacher.shape)} "
                             "differ in shape (give the term an adapter)")
        return (student - teacher.detach()).pow(2).mean()
