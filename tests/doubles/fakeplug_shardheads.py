"""Margin heads for the sharding contract test (tests/test_head_contract.py): one right, two wrong.

Module-level, so that :func:`facex_core.testing.check_head_sharded`'s spawned ranks can unpickle them.
"""
from __future__ import annotations

import functools

import torch

from facex_core import CosineBatch, MarginSoftmaxHead, replace_target


class TargetScaled(MarginSoftmaxHead):
    """Right: each row's scale grows with its own-class cosine, a differentiable use of ``target_cos``
    on every row, also where the class lives on another rank."""

    def margin_logits(self, batch):
        return batch.cos * (8.0 + 4.0 * batch.target_cos)[:, None]


class DetachedWhenSharded(TargetScaled):
    """Wrong (what target_cos used to be): the own-class cosine loses its gradient once sharded."""

    def margin_logits(self, batch):
        own = batch.target_cos.detach() if self.classifier.sharded else batch.target_cos
        return batch.cos * (8.0 + 4.0 * own)[:, None]


class UnscaledReplicatedLoss(TargetScaled):
    """Wrong: a term every rank computes alike from the gathered batch, not passed through
    ``classifier.replicated_loss``: same loss, but its gradient counts once per rank."""

    def extra_losses(self, batch):
        return {"norm": 0.1 * batch.norms.mean()}


# the worked example of docs/plugins.md ("Writing a margin head"), verbatim (tests/test_head_contract.py)
class AdaptiveCosFace(MarginSoftmaxHead):
    def __init__(self, config):
        super().__init__(config)
        self.register_buffer("easiness", torch.zeros(()))  # logged as train/head/easiness

    def margin_logits(self, batch: CosineBatch) -> torch.Tensor:
        if self.training:  # runs once per micro-batch: grad_accumulation times per optimiser step
            with torch.no_grad():
                self.easiness.lerp_(batch.target_cos.mean().clamp(0, 1), 0.05)
        margin = self.config.margin * (0.5 + self.easiness)
        own = batch.cos.gather(1, batch.target.clamp_min(0)[:, None]).squeeze(1)  # −1 rows: not used
        return replace_target(batch.cos, batch.target, own - margin) * self.config.scale

    def extra_losses(self, batch: CosineBatch) -> dict[str, torch.Tensor]:
        # every rank computes this alike from the whole (gathered) batch: count it once
        spread = 0.1 * (1.0 - batch.target_cos).square().mean()
        return {"compactness": self.classifier.replicated_loss(spread)}


def build(cls: str) -> MarginSoftmaxHead:
    from fakeplug_core import MarginConfig

    return globals()[cls](MarginConfig(num_classes=11, embedding_size=6))


def builder(cls: str) -> functools.partial:
    """A picklable zero-argument callable that builds head ``cls`` (for check_head_sharded)."""
    return functools.partial(build, cls)
