"""CurricularFace: easy samples first, hard ones later (Huang et al. 2020).

The target logit is ArcFace's s·cos(θ_y + m). A negative j is *hard* when cos θ_j > cos(θ_y + m)
and its logit becomes s·cos θ_j·(t + cos θ_j); easy negatives stay s·cos θ_j. The parameter t is an
EMA of the mean target cosine: small early in training (hard negatives are damped: easy samples
dominate), growing as the model improves (hard negatives gain weight).
"""
from __future__ import annotations

import math

import torch

from facex_core import CosineBatch, MarginSoftmaxHead, replace_target, safe_sin

from .plugin import CurricularFaceConfig


class CurricularFace(MarginSoftmaxHead):
    """ArcFace margin plus curriculum re-weighting of hard negatives; ``t`` is a buffer."""

    t: torch.Tensor

    def __init__(self, config: CurricularFaceConfig) -> None:
        super().__init__(config)
        m = config.margin
        self.scale, self.momentum = config.scale, config.momentum
        self.cos_m, self.sin_m = math.cos(m), math.sin(m)
        # θ_y + m ≤ π ⇔ cos θ_y ≥ cos(π − m); beyond it the target falls back to cos θ_y − m·sin m
        self.threshold, self.fallback = math.cos(math.pi - m), m * math.sin(m)
        self.register_buffer("t", torch.zeros(()))

    def margin_logits(self, batch: CosineBatch) -> torch.Tensor:
        cos = batch.cos.float()  # a no-op unless the classifier ran under autocast
        own = batch.target_cos.float()  # valid for every row, also where the class lives on another rank
        if self.training:
            with torch.no_grad():
                self.t.lerp_(own.mean().to(self.t.dtype), self.momentum)
        # hard negatives: above the margin-shifted target cos(θ_y + m); the mask carries no gradient
        with torch.no_grad():
            shifted = own * self.cos_m - safe_sin(own) * self.sin_m
        hard = cos > shifted[:, None]
        t = self.t.to(cos.dtype)
        logits = torch.where(hard, cos * (t + cos), cos)
        y = cos.gather(1, batch.target.clamp_min(0)[:, None]).squeeze(1)
        value = torch.where(y > self.threshold, y * self.cos_m - safe_sin(y) * self.sin_m, y - self.fallback)
        return replace_target(logits, batch.target, value) * self.scale
