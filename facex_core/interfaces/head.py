"""The Head interface, the margin-softmax scaffolding that most heads share, and backbone + head."""
from __future__ import annotations

import abc
import math
from typing import ClassVar

import attrs
import torch
from torch import nn

from ..nn.classifier import Classifier, CosineBatch
from .configs import HeadConfig


@attrs.define
class HeadOutput:
    """What a head returns for one batch."""

    loss: torch.Tensor  #: The head's main loss (a scalar).
    logits: torch.Tensor  #: N×C' logits after margin and scale (C' < C with Partial FC).
    extra_losses: dict[str, torch.Tensor] = attrs.field(factory=dict)  #: Weighted extra terms, added in training.
    targets: torch.Tensor | None = None  #: Each sample's column in :attr:`logits` (−1: other rank; None: the labels).

    @property
    def total_loss(self) -> torch.Tensor:
        """``loss`` plus every extra term: the quantity to back-propagate."""
        return sum(self.extra_losses.values(), self.loss)

    def accuracy(self, labels: torch.Tensor) -> float:
        """Fraction of samples whose own class has the largest logit (local columns only)."""
        targets = labels if self.targets is None else self.targets
        here = targets >= 0
        if targets.shape[0] != self.logits.shape[0] or not bool(here.any()):
            return float("nan")
        return float((self.logits.detach()[here].argmax(1) == targets[here]).float().mean())


def check_labels(labels: torch.Tensor, num_classes: int) -> None:
    """Reject labels that would silently give a wrong loss (wrong dtype, shape or range)."""
    if labels.dtype != torch.int64:
        raise TypeError(f"labels must be torch.int64, got {labels.dtype}")
    if labels.dim() != 1:
        raise ValueError(f"labels must be a 1-D tensor, got shape {tuple(labels.shape)}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got range [{int(labels.min())}, {int(labels.max())}]")


class Head(nn.Module, abc.ABC):
    """Turns raw embeddings and labels into a loss and logits; its class centres are the parameter
    :attr:`weight` (``C × D``, ``C × K × D`` with sub-centres; the local shard under model parallelism)."""

    api_version: ClassVar[int] = 1

    def __init__(self, config: HeadConfig) -> None:
        super().__init__()
        self.config, self.num_classes, self.embedding_size = config, config.num_classes, config.embedding_size

    @abc.abstractmethod
    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> HeadOutput:
        """Raw ``N×D`` embeddings and ``N`` int64 labels → loss and logits."""


class MarginSoftmaxHead(Head):
    """Cosine-softmax scaffolding: class centres (:class:`Classifier`) → margin policy → CE; cosines are
    clamped to [-1, 1] in float32 even under autocast, so ``acos``/``sqrt`` never get an invalid value."""

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
        """Weighted extra loss terms (regularisers); one computed identically on every rank from the
        gathered batch must go through ``self.classifier.replicated_loss`` to count once when sharded."""
        return {}

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> HeadOutput:
        check_labels(labels, self.num_classes)
        batch = self.classifier(embeddings, labels)
        logits = self.margin_logits(batch)
        loss = self.classifier.cross_entropy(logits, batch.target)
        return HeadOutput(loss=loss, logits=logits, extra_losses=self.extra_losses(batch), targets=batch.target)


class FaceModel(nn.Module):
    """Backbone + head; state-dict keys are ``backbone.*`` and ``head.*`` as in FaceX-Zoo."""

    def __init__(self, backbone: nn.Module, head: Head) -> None:
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> HeadOutput:
        return self.head(self.backbone(images), labels)


def replace_target(logits: torch.Tensor, target: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Copy of ``logits`` whose column ``target[i]`` in row ``i`` is ``value[i]`` (rows with −1 untouched)."""
    return torch.where(target_mask(logits, target), value.unsqueeze(1).to(logits.dtype), logits)


def target_mask(cos: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Boolean N×C' mask of each row's target column (all False where the target is elsewhere)."""
    return torch.arange(cos.shape[1], device=cos.device)[None, :] == target[:, None]


def safe_sin(cos: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """``sin θ`` from ``cos θ`` for θ in [0, π], with a finite gradient at cos = ±1."""
    return torch.sqrt((1.0 - cos * cos).clamp_min(eps))


def default_adacos_scale(num_classes: int) -> float:
    """AdaCos's fixed scale √2·ln(C−1) (also a sane default scale for any cosine head)."""
    return math.sqrt(2.0) * math.log(max(num_classes - 1, 2))
