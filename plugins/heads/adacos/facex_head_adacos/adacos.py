"""AdaCos: logits s̃·cos θ_j with a scale re-estimated every training step (Zhang et al. 2019).

Dynamic AdaCos sets, from the batch and the previous scale s̃⁽ᵗ⁻¹⁾,

    B_avg = 1/N · Σ_i Σ_{j≠y_i} exp(s̃⁽ᵗ⁻¹⁾·cos θ_ij),   s̃⁽ᵗ⁾ = ln B_avg / cos(min(π/4, θ_med)),

where θ_med is the median angle between the samples and their own class centres.
"""
from __future__ import annotations

import math

import torch

from facex_core import CosineBatch, MarginSoftmaxHead, default_adacos_scale, target_mask

from .plugin import AdaCosConfig


class AdaCos(MarginSoftmaxHead):
    """Cosine softmax whose scale is a buffer: checkpointed, updated in training only."""

    scale: torch.Tensor

    def __init__(self, config: AdaCosConfig) -> None:
        super().__init__(config)
        self.register_buffer("scale", torch.tensor(default_adacos_scale(config.num_classes)))

    def margin_logits(self, batch: CosineBatch) -> torch.Tensor:
        cos = batch.cos.float()  # a no-op unless the classifier ran under autocast
        if self.training and self.config.dynamic:
            self._update_scale(cos, batch)
        return cos * self.scale

    @torch.no_grad()
    def _update_scale(self, cos: torch.Tensor, batch: CosineBatch) -> None:
        """s̃ ← ln B_avg / cos(min(π/4, θ_med)), B_avg from the current scale."""
        negatives = cos.masked_fill(target_mask(cos, batch.target), float("-inf"))
        # ln Σ exp in log space: exact, and no overflow however large the scale grows
        log_sum = torch.logsumexp((self.scale * negatives).flatten(), 0)
        columns = torch.tensor(float(cos.shape[1]), dtype=log_sum.dtype, device=cos.device)
        c = self.classifier
        if c.sharded:
            # B_avg sums over every rank's columns: ln Σ_ranks exp(log_sum), shifted by the largest term
            top = c.all_reduce(log_sum, op="max")
            log_sum, columns = top + torch.log(c.all_reduce(torch.exp(log_sum - top))), c.all_reduce(columns)
        # Partial FC keeps columns − 1 of each sample's C − 1 negatives: scale their sum up to all C − 1
        # (1 with full FC), so the scale does not depend on the sample rate.
        log_b_avg = log_sum - math.log(cos.shape[0]) + torch.log((self.num_classes - 1) / (columns - 1))
        theta = torch.acos(batch.target_cos.float().clamp(-1.0 + 1e-7, 1.0 - 1e-7))
        theta_med = theta.median()  # lower median for an even batch, like torch.median in the references
        self.scale.copy_(log_b_avg / torch.cos(theta_med.clamp(max=math.pi / 4)))

