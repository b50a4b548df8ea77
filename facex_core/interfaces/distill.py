"""The DistillLoss interface (kind ``distill_loss``): how far a student is from its teacher."""
from __future__ import annotations

import abc
from typing import Any, ClassVar, Sequence, Union

import torch
from torch import nn

#: One side of a distillation loss: logits, embeddings or a feature map, or a sequence of maps (FSP).
Side = Union[torch.Tensor, Sequence[torch.Tensor]]


class DistillLoss(nn.Module, abc.ABC):
    """``loss(student, teacher)`` → a scalar; the teacher side arrives detached (a frozen network)."""

    api_version: ClassVar[int] = 1
    #: What both sides are: ``"logits"``, ``"embeddings"``, ``"feature_map"`` or ``"feature_maps"`` (a sequence).
    takes: ClassVar[str] = "embeddings"

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config

    @abc.abstractmethod
    def forward(self, student: Side, teacher: Side) -> torch.Tensor:
        """The loss of ``student`` against ``teacher`` (batch-mean, unweighted)."""
