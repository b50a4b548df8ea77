"""The Head interface and the margin-softmax scaffolding that most heads share."""
from __future__ import annotations

import abc
import math
from typing import ClassVar

import attrs
import torch
from torch import nn

from ..nn.classifier import Classifier, CosineBatch
from .head_config import HeadConfig


@attrs.define
class HeadOutput:
    """What a head returns for one batch."""

    loss: torch.Tensor
    """The head's main loss (a scalar)."""
    logits: torch.Tensor
    """N×C' logits after margin and scale (C' < C with Partial FC)."""
    extra_losses: dict[str, torch.Tensor] = attrs.field(factory=dict)
    """Additional weighted loss terms (e.g. a regulariser); training adds them to :attr:`loss`."""
    targets: torch.Tensor | None = None
    """Column of each sample's class in :attr:`logits` (−1: on another rank); ``None`` = the labels."""

    @property
    def total_loss(self) -> torch.Tensor:
        """``loss`` plus every extra term: the quantity to back-propagate."""
        total = self.loss
        for term in self.extra_losses.values():
            total = total + term
        return total

    def accuracy(self, labels: torch.Tensor) -> float:
        """Fraction of samples whose own class has the largest logit (local columns only)."""
        targets = labels if self.targets is None else self.targets
        if targets.shape[0] != self.logits.shape[0]:
            return float("nan")
        here = targets >= 0
        if not bool(here.any()):
            return float("nan")
        return float((self.logits.detach()[here].argmax(1) == targets[here]).float().mean())


def check_labels(labels: torch.Tensor, num_classes: int) -> None:
    """Reject labels that would silently give a wrong loss (wrong dtype, shape or range)."""
    if labels.dtype != torch.int64:
        raise TypeError(f"labels must be torch.int64, got {labels.dtype}")
    if labels.dim() != 1:
        raise ValueError(f"labels must be a 1-D tensor, got shape {tuple(labels.shape)}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got range "
                         f"[{int(labels.min())}, {int(labels.max())}]")


class Head(nn.Module, abc.ABC):
    """Turns raw embeddings and labels into a loss and logits.

    Its class centres are the parameter :attr:`weight`, of shape ``num_classes × embedding_size``
    (``× K`` with sub-centres; the local shard under model parallelism).
    """

    api_version: ClassVar[int] = 1

    def __init__(self, config: HeadConfig) -> None:
        super().__init__()
        self.config = config
        self.num_classes = config.num_classes
        self.embedding_size = config.embedding_size

    @abc.abstractmethod
    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> HeadOutput:
        """Raw ``N×D`` embeddings and ``N`` int64 labels → loss and logits."""


class MarginSoftmaxHead(Head):
    """Cosine-softmax scaffolding: class centres (:class:`Classifier`) → margin policy → CE.

    Subclasses implement :meth:`margin_logits` (and optionally :meth:`extra_losses`). Cosines are
    clamped to [-1, 1] in float32 even under autocast, so angular margins never feed
    ``acos``/``sqrt`` an invalid value.
    """

    def __init__(self, config: HeadConfig) -> None:
        super().__init__(config)
        self.classifier = Classifier(config.num_classes, config.embedding_size, config.classifier)

    @property
    def weight(self) -> nn.Parameter:
        return self.classifier.weight

    @abc.abstractmethod
    def margin_logits(self, batch: CosineBatch) -> torch.Tensor:
        """Return the scaled logits (margins applied to each sample's target column)."""

    def extra_losses(self, batch: CosineBatch) -> dict[str, torch.Tensor]:
        """Weighted extra loss terms (regularisers); none by default.

        A term computed identically on every rank from the gathered batch (e.g. a regulariser of
        ``batch.norms``) must go through ``self.classifier.replicated_loss`` so that its gradient
        is counted once under model parallelism.
        """
        return {}

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> HeadOutput:
        check_labels(labels, self.num_classes)
        batch = self.classifier(embeddings, labels)
        logits = self.margin_logits(batch)
        loss = self.classifier.cross_entropy(logits, batch.target)
        return HeadOutput(loss=loss, logits=logits, extra_losses=self.extra_losses(batch), targets=batch.target)


def replace_target(logits: torch.Tensor, target: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Copy of ``logits`` whose column ``target[i]`` in row ``i`` is ``value[i]`` (rows with −1 untouched)."""
    cols = torch.arange(logits.shape[1], device=logits.device)
    mask = cols[None, :] == target[:, None]
    return torch.where(mask, value.unsqueeze(1).to(logits.dtype), logits)


def target_mask(cos: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Boolean N×C' mask of each row's target column (all False where the target is elsewhere)."""
    cols = torch.arange(cos.shape[1], device=cos.device)
    return cols[None, :] == target[:, None]


def safe_sin(cos: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """``sin θ`` from ``cos θ`` for θ in [0, π], with a finite gradient at cos = ±1."""
    return torch.sqrt((1.0 - cos * cos).clamp_min(eps))


def default_adacos_scale(num_classes: int) -> float:
    """AdaCos's fixed scale √2·ln(C−1) (also a sane default scale for any cosine head)."""
    return math.sqrt(2.0) * math.log(max(num_classes - 1, 2))
