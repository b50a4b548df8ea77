"""ArcNegFace: an ArcFace target plus negatives re-weighted by their closeness to it.

The target is t_y = cos(θ_y + m) (cos θ_y − m·sin m where θ_y + m > π). Each negative j gets the weight
w_j = α·exp(−(cos θ_j − t_y)²/σ), computed without gradient, and becomes w_j·cos θ_j + w_j − 1, so the
negatives that crowd the target are pushed harder. Vectorised over the batch (FaceX-Zoo loops over it).
"""
from __future__ import annotations

import math

import torch

from facex_core import CosineBatch, MarginSoftmaxHead, replace_target, safe_sin

from .plugin import ArcNegFaceConfig


class ArcNegFace(MarginSoftmaxHead):
    """ArcFace margin on the target, Gaussian re-weighting of the negatives."""

    def __init__(self, config: ArcNegFaceConfig) -> None:
        super().__init__(config)
        m = config.margin
        self.scale = config.scale
        self.cos_m, self.sin_m = math.cos(m), math.sin(m)
        self.threshold = math.cos(math.pi - m)
        self.fallback = m * math.sin(m)  # = m·sin(π − m), the reference's value

    def arc_target(self, cos: torch.Tensor) -> torch.Tensor:
        """cos(θ + m), or cos θ − m·sin m once θ + m would pass π."""
        with_margin = cos * self.cos_m - safe_sin(cos) * self.sin_m
        return torch.where(cos > self.threshold, with_margin, cos - self.fallback)

    def margin_logits(self, batch: CosineBatch) -> torch.Tensor:
        cfg = self.config
        cos, target = batch.cos.float(), batch.target
        with torch.no_grad():
            # the own-class cosine is exact on every shard, so all ranks weight their columns alike
            centre = self.arc_target(batch.target_cos.float())
            weight = cfg.alpha * torch.exp(-(cos - centre[:, None]).square() / cfg.sigma)
        t = cos.gather(1, target.clamp_min(0)[:, None]).squeeze(1)
        logits = weight * cos + weight - 1.0
        return replace_target(logits, target, self.arc_target(t)) * self.scale
