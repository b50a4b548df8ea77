"""AdaM-Softmax: AM-Softmax with one learnable margin per class (AdaptiveFace, Liu et al. 2019).

The target logit is s·(cos θ_y − m_y), the others s·cos θ_j. Cross-entropy alone would shrink every
margin to 0, so the regulariser λ·(1 − mean_j m_j) pushes them up; each class settles where the two
balance (classes with few, varied samples end up with larger margins, the paper's point).
"""
from __future__ import annotations

import torch
from torch import nn

from facex_core import CosineBatch, MarginSoftmaxHead, replace_target

from .plugin import AdaMSoftmaxConfig


class AdaMSoftmax(MarginSoftmaxHead):
    """Additive cosine margin learnt per class; the margins are a parameter sharded like the centres."""

    def __init__(self, config: AdaMSoftmaxConfig) -> None:
        super().__init__(config)
        self.scale, self.margin_loss_weight = config.scale, config.margin_loss_weight
        # one margin per local class: indices class_start … class_start + num_local − 1 under sharding
        margins = torch.empty(self.classifier.num_local).uniform_(config.init_margin_low, config.init_margin_high)
        self.margins = nn.Parameter(margins)

    def class_margins(self) -> torch.Tensor:
        """The margins, kept in [0, 1].

        In training the parameter itself is projected back after the optimiser's step (projected
        gradient, as the reference does each forward), so a margin that hits a bound can leave it
        again; a functional clamp would freeze it there with zero gradient. The projection runs under
        no_grad and no operation below saves the margins for backward, so it is safe even when several
        forwards precede one backward. In eval a clamped copy is used and the parameter left untouched.
        """
        if not self.training:
            return self.margins.clamp(0.0, 1.0)
        with torch.no_grad():
            self.margins.clamp_(0.0, 1.0)
        return self.margins

    def margin_logits(self, batch: CosineBatch) -> torch.Tensor:
        cos = batch.cos.float()  # a no-op unless the classifier ran under autocast
        c = self.classifier
        # The margin belongs to the sample's class, found by global label: Partial FC reorders the
        # columns and sharding offsets them, but only the target column carries a margin.
        # Rows whose class lives on another rank read a dummy margin that replace_target ignores.
        own = self.class_margins()[(batch.labels - c.class_start).clamp(0, c.num_local - 1)]
        target_cos = cos.gather(1, batch.target.clamp_min(0)[:, None]).squeeze(1)
        return replace_target(cos, batch.target, target_cos - own) * self.scale

    def extra_losses(self, batch: CosineBatch) -> dict[str, torch.Tensor]:
        """λ·(1 − mean of all C margins), the AdaM-Softmax margin regulariser."""
        total = self.class_margins().sum()
        if self.classifier.sharded:
            # every rank reports the same value; the gradient reaches only its own margins
            local = total.detach()
            total = total + (self.classifier.all_reduce(local) - local)
        return {"margin": self.margin_loss_weight * (1.0 - total / self.num_classes)}
