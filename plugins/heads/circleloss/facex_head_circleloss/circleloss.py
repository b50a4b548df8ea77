"""CircleLoss with class-level labels (Sun et al. 2020) as a softmax over re-weighted cosines.

With one positive s_p = cos θ_y per sample and negatives s_n = cos θ_j, the circle loss

    log[1 + Σ_j exp(γ·α_n^j·(s_n^j − Δ_n)) · exp(−γ·α_p·(s_p − Δ_p))]

is exactly the cross-entropy of the logits γ·α_p·(s_p − Δ_p) (target) and γ·α_n^j·(s_n^j − Δ_n)
(others), with α_p = [O_p − s_p]₊, α_n = [s_n − O_n]₊, O_p = 1 + m, O_n = −m, Δ_p = 1 − m, Δ_n = m.
The weights α are treated as constants in the gradient (detached), as in the authors' code and FaceX-Zoo.
"""
from __future__ import annotations

import torch

from facex_core import CosineBatch, MarginSoftmaxHead, replace_target

from .plugin import CircleLossConfig


class CircleLoss(MarginSoftmaxHead):
    """Circle loss: each similarity is weighted by its distance from its own optimum."""

    def __init__(self, config: CircleLossConfig) -> None:
        super().__init__(config)
        self.margin, self.gamma = config.margin, config.gamma

    def margin_logits(self, batch: CosineBatch) -> torch.Tensor:
        cos = batch.cos.float()  # a no-op unless the classifier ran under autocast
        m = self.margin
        alpha_n = (cos.detach() + m).clamp_min(0.0)
        logits = alpha_n * (cos - m)
        target_cos = cos.gather(1, batch.target.clamp_min(0)[:, None]).squeeze(1)
        alpha_p = (1.0 + m - target_cos.detach()).clamp_min(0.0)
        return replace_target(logits, batch.target, alpha_p * (target_cos - (1.0 - m))) * self.gamma
