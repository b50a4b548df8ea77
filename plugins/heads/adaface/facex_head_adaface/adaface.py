"""AdaFace: the margin depends on image quality, estimated from the normalised feature norm.

ẑ = clip(h·(‖z‖ − μ)/(σ + eps), −1, 1) with μ, σ an EMA (weight α) of the batch mean and std of the norms;
the target logit is s·cos(θ_y − m·ẑ) − s·(m·ẑ + m) (angular part g_angle = −m·ẑ, additive part
g_add = m·ẑ + m), the others s·cos θ_j (Kim et al. 2022, §3; official ``head.py``). Low-quality samples
(ẑ = −1) get ArcFace's cos(θ + m), average ones CosFace's cos θ − m, high-quality ones (ẑ = 1)
cos(θ − m) − 2m, which stresses hard samples. Norms are detached: the margin passes no gradient to them.
"""
from __future__ import annotations

import math

import torch

from facex_core import CosineBatch, MarginSoftmaxHead, replace_target

from .plugin import AdaFaceConfig


class AdaFace(MarginSoftmaxHead):
    """AdaFace; the norm statistics are buffers, updated only in training mode."""

    batch_mean: torch.Tensor
    batch_std: torch.Tensor

    def __init__(self, config: AdaFaceConfig) -> None:
        super().__init__(config)
        self.scale = config.scale
        # the official starting values: the first batches move the EMA from here
        self.register_buffer("batch_mean", torch.tensor(20.0))
        self.register_buffer("batch_std", torch.tensor(100.0))

    @torch.no_grad()
    def _update_statistics(self, norms: torch.Tensor) -> None:
        alpha = self.config.momentum
        self.batch_mean.mul_(1 - alpha).add_(alpha * norms.mean())
        if norms.numel() > 1:  # the unbiased std of one sample is undefined
            self.batch_std.mul_(1 - alpha).add_(alpha * norms.std())

    def quality(self, norms: torch.Tensor) -> torch.Tensor:
        """ẑ in [−1, 1] from detached norms and the current statistics."""
        cfg = self.config
        z = (norms - self.batch_mean) / (self.batch_std + cfg.eps) * cfg.h
        return z.clamp(-1.0, 1.0)

    def margin_logits(self, batch: CosineBatch) -> torch.Tensor:
        cfg = self.config
        norms = batch.norms.detach().float().clamp(1e-3, 100.0)  # the official code's safe range
        if self.training:
            self._update_statistics(norms)  # updated first, then used, as in the official code
        z = self.quality(norms)
        cos, target = batch.cos.float(), batch.target
        t = cos.gather(1, target.clamp_min(0)[:, None]).squeeze(1)
        theta = torch.acos(t.clamp(-1 + cfg.eps, 1 - cfg.eps))
        angular = (theta - cfg.margin * z).clamp(cfg.eps, math.pi - cfg.eps)
        value = torch.cos(angular) - (cfg.margin * z + cfg.margin)
        return replace_target(cos, target, value) * self.scale
