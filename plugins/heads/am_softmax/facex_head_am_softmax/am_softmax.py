"""AM-Softmax / CosFace: the target logit is s·(cos θ_y − m), the others s·cos θ_j."""
from __future__ import annotations

import torch

from facex_core import CosineBatch, MarginSoftmaxHead, replace_target

from .plugin import AMSoftmaxConfig


class AMSoftmax(MarginSoftmaxHead):
    """Additive cosine margin head (AM-Softmax's ψ(θ) = cos θ − m, CosFace's LMCL)."""

    def __init__(self, config: AMSoftmaxConfig) -> None:
        super().__init__(config)
        self.scale, self.margin = config.scale, config.margin

    def margin_logits(self, batch: CosineBatch) -> torch.Tensor:
        cos = batch.cos.float()  # a no-op unless the classifier ran under autocast
        target_cos = cos.gather(1, batch.target.clamp_min(0)[:, None]).squeeze(1)
        return replace_target(cos, batch.target, target_cos - self.margin) * self.scale
