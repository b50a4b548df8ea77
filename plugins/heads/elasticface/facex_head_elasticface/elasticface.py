"""ElasticFace: ArcFace/CosFace with a fresh margin m_i ~ N(m, σ) for every sample and step.

ElasticFace-Arc's target is cos(θ_y + m_i), ElasticFace-Cos's cos θ_y − m_i; the other logits stay
s·cos θ_j. The "+" variants sort the batch's draws and hand them out by hardness: the sample with the
lowest cos θ_y gets the largest margin (Boutros et al. 2022, §3). Draws come from torch's global RNG, so
restoring its state on resume replays them. In eval mode every sample gets the mean margin m, which keeps
validation losses deterministic and leaves the RNG untouched.
"""
from __future__ import annotations

import torch

from facex_core import CosineBatch, MarginSoftmaxHead, replace_target, safe_sin

from .plugin import ElasticArcFaceConfig, ElasticCosFaceConfig


class ElasticFace(MarginSoftmaxHead):
    """Draws the per-sample margins; subclasses apply them to the target cosine."""

    def __init__(self, config: ElasticArcFaceConfig | ElasticCosFaceConfig) -> None:
        super().__init__(config)
        self.scale = config.scale

    def sample_margins(self, batch: CosineBatch) -> torch.Tensor:
        """One margin per (all-gathered) sample, ranked by hardness for the "+" variants."""
        cfg = self.config
        n, device = batch.cos.shape[0], batch.cos.device
        if not self.training:
            return torch.full((n,), cfg.margin, device=device)
        draws = torch.normal(cfg.margin, cfg.std, size=(n,), device=device)
        if not cfg.plus:
            return draws
        # easiest (highest own-class cosine) first, so the k-th easiest gets the k-th smallest margin;
        # target_cos is exact on every shard, so every rank ranks the samples alike
        easiest_first = torch.argsort(batch.target_cos.detach(), descending=True, stable=True)
        margins = torch.empty_like(draws)
        margins[easiest_first] = draws.sort().values
        return margins

    def apply_margin(self, t: torch.Tensor, m: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def margin_logits(self, batch: CosineBatch) -> torch.Tensor:
        cos, target = batch.cos.float(), batch.target
        t = cos.gather(1, target.clamp_min(0)[:, None]).squeeze(1)
        value = self.apply_margin(t, self.sample_margins(batch))
        return replace_target(cos, target, value) * self.scale


class ElasticArcFace(ElasticFace):
    """Target cos(θ_y + m_i), with no θ_y + m_i > π fallback (as in the paper and official code)."""

    def apply_margin(self, t: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return t * torch.cos(m) - safe_sin(t) * torch.sin(m)


class ElasticCosFace(ElasticFace):
    """Target cos θ_y − m_i."""

    def apply_margin(self, t: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return t - m
