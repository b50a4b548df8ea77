"""NPCFace: hard negatives are emphasised and each sample's positive margin grows with them.

For sample i with target angle θ_y, the negatives j with cos θ_j > cos(θ_y + m) are hard (mask M_ij).
Hard negatives become t·cos θ_j + a, the others stay cos θ_j; the target becomes cos(θ_y + m'_i) with the
collaborative margin m'_i = m0 + m1 · Σ_j M_ij cos θ_j / max(1, Σ_j M_ij) where cos θ_y > 0, else cos θ_y.
The mask and m'_i carry no gradient, as in the reference implementation (FaceX-Zoo ``head/NPCFace.py``).
"""
from __future__ import annotations

import math

import torch

from facex_core import CosineBatch, MarginSoftmaxHead, replace_target, safe_sin, target_mask

from .plugin import NPCFaceConfig


class NPCFace(MarginSoftmaxHead):
    """NPCFace with the mean hard-negative cosine taken over every (sampled) column, on every shard."""

    def __init__(self, config: NPCFaceConfig) -> None:
        super().__init__(config)
        self.scale = config.scale
        self.cos_m, self.sin_m = math.cos(config.margin), math.sin(config.margin)

    def margin_logits(self, batch: CosineBatch) -> torch.Tensor:
        cfg = self.config
        cos, target = batch.cos.float(), batch.target
        with torch.no_grad():
            # the own-class cosine is exact on every shard, so each rank draws the same hard boundary
            own = batch.target_cos.float()
            boundary = own * self.cos_m - safe_sin(own) * self.sin_m  # cos(θ_y + m)
            hard = (cos > boundary[:, None]) & ~target_mask(cos, target)
            # each shard holds some of every row's columns: add up the hard-negative sums and counts
            stats = self.classifier.all_reduce(
                torch.stack([torch.where(hard, cos, torch.zeros_like(cos)).sum(1), hard.sum(1).float()]))
            positive_margin = cfg.m0 + cfg.m1 * stats[0] / stats[1].clamp_min(1.0)
        t = cos.gather(1, target.clamp_min(0)[:, None]).squeeze(1)
        with_margin = t * torch.cos(positive_margin) - safe_sin(t) * torch.sin(positive_margin)
        value = torch.where(t > 0, with_margin, t)
        logits = torch.where(hard, cfg.t * cos + cfg.a, cos)
        return replace_target(logits, target, value) * self.scale
