"""MV-Softmax: emphasise the negatives that still beat the margined target (Wang et al. 2020).

With f = cos θ_y − m (AM) or cos(θ_y + m) (Arc), a negative is *mis-classified* when cos θ_j > f.
Its logit becomes s·(t·cos θ_j + t − 1) — the paper's adaptive indicator h = exp(s(t − 1)(cos θ_j + 1)),
folded into the logit — while the others stay s·cos θ_j and the target becomes s·f.

Unlike FaceX-Zoo, the cosines are clamped to [-1, 1] (the classifier does it, as the authors' code),
so sqrt(1 − cos²) of the Arc variant never sees a negative argument.
"""
from __future__ import annotations

import math

import torch

from facex_core import CosineBatch, MarginSoftmaxHead, replace_target, safe_sin

from .plugin import MVSoftmaxConfig


class MVSoftmax(MarginSoftmaxHead):
    """Mis-classified vector guided softmax, AM or Arc margin."""

    def __init__(self, config: MVSoftmaxConfig) -> None:
        super().__init__(config)
        self.is_am, self.margin, self.t, self.scale = config.is_am, config.margin, config.mv_weight, config.scale
        self.cos_m, self.sin_m = math.cos(config.margin), math.sin(config.margin)

    def margined(self, cos: torch.Tensor) -> torch.Tensor:
        """f(m, θ): cos θ − m (AM) or cos(θ + m) (Arc)."""
        if self.is_am:
            return cos - self.margin
        return cos * self.cos_m - safe_sin(cos) * self.sin_m

    def margin_logits(self, batch: CosineBatch) -> torch.Tensor:
        cos = batch.cos.float()  # a no-op unless the classifier ran under autocast
        with torch.no_grad():  # the mis-classification mask carries no gradient
            # target_cos is valid for every row, also where the class lives on another rank
            threshold = self.margined(batch.target_cos.float())
        hard = cos > threshold[:, None]
        logits = torch.where(hard, self.t * cos + (self.t - 1.0), cos)
        y = cos.gather(1, batch.target.clamp_min(0)[:, None]).squeeze(1)
        value = self.margined(y)
        if self.config.easy_margin:
            value = torch.where(y > 0, value, y)
        return replace_target(logits, batch.target, value) * self.scale
