"""Factor transfer (Kim, Park & Kwak, NeurIPS 2018, §3.2): the student's *factor* F_S (the output of
its translator) is pulled towards the teacher's factor F_T, each flattened and L2-normalised::

    L_FT = ‖ F_T / ‖F_T‖₂ − F_S / ‖F_S‖₂ ‖_p          (p = 1 in the paper)

computed per sample and averaged over the batch. In the paper F_T comes from a *paraphraser*
(a convolutional auto-encoder trained on the teacher's last map before distillation) and F_S from
a *translator* (a few convolutions on the student). FaceX simplifies this: the teacher side is the
tapped teacher map itself (no paraphraser is trained) and the student's translator is the distill
mode's adapter (1×1 conv + BN; ``adapter = "always"`` to use one even when the shapes agree).
FaceX-Zoo's KDF ``FT`` averages |difference| over elements instead of summing (÷ C·H·W).
"""
from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from facex_core import DistillLoss

from .plugin import FTConfig


class FT(DistillLoss):
    """``loss(student_factor, teacher_factor)`` → mean over samples of ‖t̂ − ŝ‖_p."""

    takes: ClassVar[str] = "feature_map"

    def __init__(self, config: FTConfig | None = None) -> None:
        super().__init__(config or FTConfig())
        self.p = int(self.config.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        if student.shape != teacher.shape:
            raise ValueError(f"ft: student factor {tuple(student.shape)} and teacher factor {tuple(teacher.shape)} "
                             "differ in shape (give the term an adapter)")
        s = F.normalize(student.flatten(1), dim=1)
        t = F.normalize(teacher.detach().flatten(1), dim=1)
        return (t - s).norm(p=self.p, dim=1).mean()
