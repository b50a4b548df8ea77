"""SphereFace2-C: one binary logistic loss per (sample, class) pair instead of a softmax.

With g(z) = 2((z + 1)/2)^t − 1, the own class y has the logit r·(g(cos θ_y) − m) + b and every other
class j the logit r·(g(cos θ_j) + m) + b; the loss per sample is
    λ/r · log(1 + exp(−logit_y)) + (1 − λ)/r · Σ_{j≠y} log(1 + exp(logit_j))
(Wen et al. 2022, Eq. 5 plus the margin and similarity adjustment of §3), times opensphere's loss weight,
averaged over the batch. b is one learnable scalar. There is no normaliser across classes, so each
column's term is independent: with Partial FC only the sampled columns contribute, and with sharded
centres each rank sums its own columns and the partial sums are all-reduced.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from facex_core import CosineBatch, HeadOutput, MarginSoftmaxHead, check_labels, target_mask

from .plugin import SphereFace2Config


def initial_bias(num_classes: int, lam: float, r: float, m: float, t: float) -> float:
    """opensphere's start value of b: at cos θ = 0 the λ-weighted positive gradient on b cancels the
    (1 − λ)-weighted gradients of the C − 1 negatives, so b does not drift in the first steps."""
    z = lam / ((1.0 - lam) * max(num_classes - 1, 1))
    g0 = 2.0 * 0.5 ** t - 1.0
    positive, negative = r * (g0 - m), r * (g0 + m)
    root = math.sqrt((1.0 - z) ** 2 + 4.0 * z * math.exp(positive - negative))
    return math.log(2.0 * z) - negative - math.log(1.0 - z + root)


class SphereFace2(MarginSoftmaxHead):
    """SphereFace2-C; :meth:`margin_logits` gives the binary logits, :meth:`forward` their loss."""

    def __init__(self, config: SphereFace2Config) -> None:
        super().__init__(config)
        b = initial_bias(config.num_classes, config.positive_weight, config.scale, config.margin, config.t)
        self.bias = nn.Parameter(torch.tensor(b))

    def similarity(self, cos: torch.Tensor) -> torch.Tensor:
        """g(z) = 2((z + 1)/2)^t − 1: maps [−1, 1] onto itself, pushing cosines down."""
        return 2.0 * ((cos + 1.0) / 2.0).pow(self.config.t) - 1.0

    def margin_logits(self, batch: CosineBatch) -> torch.Tensor:
        cfg = self.config
        cos = batch.cos.float()
        own = target_mask(cos, batch.target)
        adjusted = self.similarity(cos) - torch.where(own, cfg.margin, -cfg.margin)
        if cfg.detach_adjustment:
            adjusted = cos + (adjusted - cos).detach()
        bias = self.bias
        if self.classifier.sharded and bias.requires_grad and torch.is_grad_enabled():
            # b is replicated but each rank's loss sees only its own columns: sum b's gradient over the ranks
            bias = bias.clone()
            bias.register_hook(self.classifier.all_reduce)
        return cfg.scale * adjusted + bias

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> HeadOutput:
        check_labels(labels, self.num_classes)
        cfg = self.config
        batch = self.classifier(embeddings, labels)
        logits = self.margin_logits(batch)
        own = target_mask(logits, batch.target)
        lam = cfg.positive_weight
        per_pair = torch.where(own, lam * F.softplus(-logits), (1.0 - lam) * F.softplus(logits))
        loss = cfg.loss_weight / cfg.scale * per_pair.sum() / logits.shape[0]
        if self.classifier.sharded:
            # the value is the sum over every rank's columns; the gradient stays this rank's part,
            # which the all-gather's backward adds up across ranks
            local = loss.detach()
            loss = loss + (self.classifier.all_reduce(local) - local)
        return HeadOutput(loss=loss, logits=logits, extra_losses={}, targets=batch.target)
