"""MagFace: an ArcFace target cos(θ_y + m(a)) whose margin grows with the feature norm a.

a = ‖f‖ clamped to [l_a, u_a]; m(a) = l_m + (u_m − l_m)·(a − l_a)/(u_a − l_a); the regulariser
λ_g·mean g(a), g(a) = a/u_a² + 1/a, rewards large norms, so the norm learns to encode face quality
(Meng et al. 2021, §3). Both the margin and the regulariser pass gradients to the norm, as in the
official code.
"""
from __future__ import annotations

import math

import torch

from facex_core import CosineBatch, MarginSoftmaxHead, replace_target, safe_sin

from .plugin import MagFaceConfig


class MagFace(MarginSoftmaxHead):
    """Magnitude-aware angular margin; the regulariser comes back in ``extra_losses["magface_g"]``."""

    def __init__(self, config: MagFaceConfig) -> None:
        super().__init__(config)
        if not 0 < config.lower_norm < config.upper_norm:
            raise ValueError(f"need 0 < lower_norm < upper_norm, got {config.lower_norm}, {config.upper_norm}")
        self.scale = config.scale

    def _norm(self, batch: CosineBatch) -> torch.Tensor:
        return batch.norms.float().clamp(self.config.lower_norm, self.config.upper_norm)

    def margin(self, a: torch.Tensor) -> torch.Tensor:
        """m(a): linear from l_m at a = l_a to u_m at a = u_a."""
        cfg = self.config
        slope = (cfg.upper_margin - cfg.lower_margin) / (cfg.upper_norm - cfg.lower_norm)
        return cfg.lower_margin + slope * (a - cfg.lower_norm)

    def margin_logits(self, batch: CosineBatch) -> torch.Tensor:
        cos, target = batch.cos.float(), batch.target
        m = self.margin(self._norm(batch))
        t = cos.gather(1, target.clamp_min(0)[:, None]).squeeze(1)
        with_margin = t * torch.cos(m) - safe_sin(t) * torch.sin(m)
        if self.config.easy_margin:
            value = torch.where(t > 0, with_margin, t)
        else:
            value = torch.where(t > torch.cos(math.pi - m), with_margin, t - self.config.fallback_margin)
        return replace_target(cos, target, value) * self.scale

    def extra_losses(self, batch: CosineBatch) -> dict[str, torch.Tensor]:
        a = self._norm(batch)
        term = self.config.lambda_g * (a / self.config.upper_norm ** 2 + 1.0 / a).mean()
        # every rank computes it from the all-gathered norms: count its gradient once
        return {"magface_g": self.classifier.replicated_loss(term)}
