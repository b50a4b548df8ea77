"""ArcFace: the target logit is s·cos(θ_y + m), the others s·cos θ_j (Deng et al. 2019, Eq. 3)."""
from __future__ import annotations

import math

import torch

from facex_core import CosineBatch, MarginSoftmaxHead, replace_target, safe_sin

from .plugin import ArcFaceConfig


class ArcFace(MarginSoftmaxHead):
    """Additive angular margin head with the θ + m > π fallback and an optional easy margin."""

    def __init__(self, config: ArcFaceConfig) -> None:
        super().__init__(config)
        m = config.margin
        self.scale = config.scale
        self.cos_m, self.sin_m = math.cos(m), math.sin(m)
        # θ_y + m ≤ π  ⇔  cos θ_y ≥ cos(π − m); beyond it cos(θ + m) would start to grow again.
        self.threshold = math.cos(math.pi - m)
        self.fallback = m * math.sin(m) if config.fallback_margin < 0 else config.fallback_margin

    def margin_logits(self, batch: CosineBatch) -> torch.Tensor:
        cos, target = batch.cos, batch.target
        t = cos.gather(1, target.clamp_min(0)[:, None]).squeeze(1)
        with_margin = t * self.cos_m - safe_sin(t) * self.sin_m
        if self.config.easy_margin:
            value = torch.where(t > 0, with_margin, t)
        else:
            value = torch.where(t > self.threshold, with_margin, t - self.fallback)
        return replace_target(cos, target, value) * self.scale
