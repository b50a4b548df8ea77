"""Class centres for margin heads: full FC, Partial FC (sampled, sharded across ranks; An et al. 2021)
and sub-centres; sharded, embeddings and labels are all-gathered and the softmax normaliser all-reduced."""
from __future__ import annotations

from typing import Any

import attrs
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ..interfaces.configs import ClassifierConfig
from ..runtime.distributed import world_rank


@attrs.define
class CosineBatch:
    """What a margin policy needs for one batch; sharded, N is the global (all-gathered) batch and C'
    this rank's columns. Every tensor carries gradients; detach what you use as a statistic."""

    cos: torch.Tensor  #: N×C' cosines against this rank's (Partial FC: sampled) centres, in [-1, 1], float32.
    target: torch.Tensor  #: N column of each sample's class in :attr:`cos`; −1 where it is on another rank.
    target_cos: torch.Tensor  #: N cosine to the own class, every row on every rank; all-reduced with its gradient.
    norms: torch.Tensor  #: N L2 norms of the raw embeddings (MagFace, AdaFace).
    labels: torch.Tensor  #: N global labels.
    embeddings: torch.Tensor  #: N×D raw embeddings.


class _AllGather(torch.autograd.Function):
    """All-gather whose backward sums every rank's gradient for the local slice."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        world, rank = world_rank()
        ctx.rank, ctx.n = rank, x.shape[0]
        parts = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.n:(ctx.rank + 1) * ctx.n]


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks whose backward sums the ranks' gradients: every rank's loss may use the value."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
        return x

    backward = forward  # the gradient of a sum over ranks is the sum of the ranks' gradients


class _ShardedCrossEntropy(torch.autograd.Function):
    """Mean softmax cross-entropy over columns split across ranks: ``loss_i = log Σ_j exp(z_ij − M_i) +
    M_i − z_iy`` with the row max ``M_i``, the sum and ``z_iy`` all-reduced (no probability clamped)."""

    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        row_max = logits.max(dim=1, keepdim=True).values
        dist.all_reduce(row_max, op=dist.ReduceOp.MAX)
        exp = (logits - row_max).exp()
        denom = exp.sum(dim=1, keepdim=True)
        dist.all_reduce(denom, op=dist.ReduceOp.SUM)
        here = target >= 0
        z_target = torch.zeros(logits.shape[0], device=logits.device)
        z_target[here] = logits[here, target[here]]
        dist.all_reduce(z_target, op=dist.ReduceOp.SUM)
        ctx.save_for_backward(exp / denom, target)
        return (denom.squeeze(1).log() + row_max.squeeze(1) - z_target).mean()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        prob, target = ctx.saved_tensors
        g = prob.clone()
        here = (target >= 0).nonzero().squeeze(1)
        g[here, target[here]] -= 1.0
        return g * (grad / prob.shape[0]), None


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; gradient multiplied by ``factor`` (undoes the all-gather's sum over ranks)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, factor: float) -> torch.Tensor:
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad * ctx.factor, None


class Classifier(nn.Module):
    """The class centres of a head and the cosine/softmax mechanics around them."""

    def __init__(self, num_classes: int, embedding_size: int, config: ClassifierConfig | None = None) -> None:
        super().__init__()
        self.config = config or ClassifierConfig()
        self.num_classes = num_classes
        self.sharded = self.config.shard and world_rank()[0] > 1
        self.world, self.rank = world_rank() if self.sharded else (1, 0)
        self.num_local = num_classes // self.world + int(self.rank < num_classes % self.world)
        self.class_start = num_classes // self.world * self.rank + min(self.rank, num_classes % self.world)
        k = self.config.sub_centers
        shape = (self.num_local, embedding_size) if k == 1 else (self.num_local, k, embedding_size)
        self.weight = nn.Parameter(torch.empty(shape))
        nn.init.normal_(self.weight, std=0.01)
        if self.config.sample_rate < 1.0:
            # Partial FC samples from its own generator, whose state travels in the state dict: a resumed run
            # draws the same negatives as an uninterrupted one, whatever else consumes the global RNG meanwhile
            self.generator = torch.Generator().manual_seed(int(torch.randint(2**62, ())) + self.rank)
            self.register_buffer("sampler_state", self.generator.get_state())

    def _select(self, local_labels: torch.Tensor) -> torch.Tensor | None:
        """Indices of the local centres used this step: every positive plus random negatives."""
        r = self.config.sample_rate
        if r >= 1.0 or not self.training:
            return None
        num_sample = int(r * self.num_local)
        positive = torch.unique(local_labels[local_labels >= 0])
        if positive.numel() >= num_sample:
            return positive.sort().values
        score = torch.rand(self.num_local, generator=self.generator).to(self.weight.device)
        self.sampler_state = self.generator.get_state().to(self.sampler_state.device)
        score[positive] = 2.0  # positives always win the top-k
        return score.topk(num_sample).indices.sort().values

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: Any) -> None:
        key = prefix + "sampler_state"
        if hasattr(self, "generator") and key not in state_dict:  # a checkpoint from before the generator
            state_dict = {**state_dict, key: self.sampler_state}
        super()._load_from_state_dict(state_dict, prefix, *args)
        if hasattr(self, "generator"):
            self.generator.set_state(self.sampler_state.cpu())

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> CosineBatch:
        if self.sharded:
            embeddings = _AllGather.apply(embeddings)
            gathered = [torch.empty_like(labels) for _ in range(self.world)]
            dist.all_gather(gathered, labels.contiguous())
            labels = torch.cat(gathered)
        local = labels - self.class_start
        local = torch.where((local >= 0) & (local < self.num_local), local, torch.full_like(local, -1))
        index = self._select(local)
        weight = self.weight if index is None else self.weight[index]
        # cosines stay float32 under autocast: margins take acos/sqrt of values near ±1
        with torch.autocast(embeddings.device.type, enabled=False):
            x = F.normalize(embeddings.float(), dim=1)
            w = F.normalize(weight.float(), dim=-1)
            if self.config.sub_centers == 1:
                cos = F.linear(x, w)
            else:
                cos = torch.einsum("nd,ckd->nck", x, w).max(dim=2).values
            cos = cos.clamp(-1.0, 1.0)
        if index is None:
            target = local
        else:
            lookup = torch.full((self.num_local,), -1, dtype=torch.long, device=cos.device)
            lookup[index] = torch.arange(index.numel(), device=cos.device)
            target = torch.where(local >= 0, lookup[local.clamp_min(0)], local)
        picked = cos.gather(1, target.clamp_min(0)[:, None]).squeeze(1)
        target_cos = torch.where(target >= 0, picked, torch.zeros_like(picked))
        if self.sharded:  # each row's own class lives on one rank: the others add zeros
            target_cos = _AllReduceSum.apply(target_cos)
        return CosineBatch(cos=cos, target=target, target_cos=target_cos,
                           norms=embeddings.float().norm(dim=1), labels=labels, embeddings=embeddings)

    def all_reduce(self, value: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """A per-shard statistic combined over the ranks (identity unsharded); no gradient flows through it."""
        if not self.sharded:
            return value
        value = value.detach().clone()
        dist.all_reduce(value, op={"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}[op])
        return value

    def replicated_loss(self, loss: torch.Tensor) -> torch.Tensor:
        """Make a loss term that every rank computes identically back-propagate once, not once per rank."""
        return _ScaleGrad.apply(loss, 1.0 / self.world) if self.sharded else loss

    def cross_entropy(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean softmax cross-entropy of the margin logits (exact across shards)."""
        return _ShardedCrossEntropy.apply(logits, target) if self.sharded else F.cross_entropy(logits.float(), target)
