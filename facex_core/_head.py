"""The Head interface and the margin-softmax scaffolding that most heads share."""
from __future__ import annotations

import math
from typing import Any, ClassVar

import attrs
import torch
import torch.nn.functional as F
from torch import nn

from ._head_config import HeadConfig


@attrs.define
class HeadOutput:
    """What a head returns for one batch."""

    loss: torch.Tensor
    """The head's main loss (a scalar)."""
    logits: torch.Tensor
    """N×C logits after margin and scale (used for training accuracy)."""
    extra_losses: dict[str, torch.Tensor] = attrs.field(factory=dict)
    """Additional weighted loss terms (e.g. a regulariser); training adds them to :attr:`loss`."""

    @property
    def total_loss(self) -> torch.Tensor:
        """``loss`` plus every extra term: the quantity to back-propagate."""
        total = self.loss
        for term in self.extra_losses.values():
            total = total + term
        return total


def check_labels(labels: torch.Tensor, num_classes: int) -> None:
    """Reject labels that would silently give a wrong loss (wrong dtype, shape or range)."""
    if labels.dtype != torch.int64:
        raise TypeError(f"labels must be torch.int64, got {labels.dtype}")
    if labels.dim() != 1:
        raise ValueError(f"labels must be a 1-D tensor, got shape {tuple(labels.shape)}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got range "
                         f"[{int(labels.min())}, {int(labels.max())}]")


class Head(nn.Module):
    """Turns raw embeddings and labels into a loss and logits.

    Its class centres are the parameter :attr:`weight` of shape ``num_classes × embedding_size``.
    """

    api_version: ClassVar[int] = 1

    def __init__(self, config: HeadConfig) -> None:
        super().__init__()
        self.config = config
        self.num_classes = config.num_classes
        self.embedding_size = config.embedding_size
        self.weight = nn.Parameter(torch.empty(config.num_classes, config.embedding_size))
        nn.init.normal_(self.weight, std=0.01)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> HeadOutput:  # pragma: no cover
        raise NotImplementedError


class MarginSoftmaxHead(Head):
    """Cosine-softmax scaffolding: ``cos θ_j = <x/|x|, w_j/|w_j|>``, a margin policy, then CE.

    Subclasses implement :meth:`margin_logits`. The cosine is clamped to [-1, 1] and computed in
    float32 even under autocast, so angular margins never feed ``acos``/``sqrt`` an invalid value.
    """

    def cosine(self, embeddings: torch.Tensor) -> torch.Tensor:
        """N×C cosine similarities between embeddings and class centres."""
        x = F.normalize(embeddings.float(), dim=1)
        w = F.normalize(self.weight.float(), dim=1)
        return F.linear(x, w).clamp(-1.0, 1.0)

    def margin_logits(self, cosine: torch.Tensor, labels: torch.Tensor,
                      embeddings: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Return the scaled logits (margins applied to each sample's target column)."""
        raise NotImplementedError

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> HeadOutput:
        check_labels(labels, self.num_classes)
        cos = self.cosine(embeddings)
        logits = self.margin_logits(cos, labels, embeddings)
        return HeadOutput(loss=F.cross_entropy(logits, labels), logits=logits)


def replace_target(logits: torch.Tensor, labels: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Copy of ``logits`` whose column ``labels[i]`` in row ``i`` is ``target[i]`` (differentiable)."""
    one_hot = F.one_hot(labels, logits.shape[1]).to(torch.bool)
    return torch.where(one_hot, target.unsqueeze(1).to(logits.dtype), logits)


def safe_sin(cos: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """``sin θ`` from ``cos θ`` for θ in [0, π], with a finite gradient at cos = ±1."""
    return torch.sqrt((1.0 - cos * cos).clamp_min(eps))


def default_adacos_scale(num_classes: int) -> float:
    """AdaCos's fixed scale √2·ln(C−1) (also a sane default scale for any cosine head)."""
    return math.sqrt(2.0) * math.log(max(num_classes - 1, 2))
