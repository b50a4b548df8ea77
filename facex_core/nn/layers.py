"""Building blocks that many backbone families share (one copy here instead of one per plugin)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` without dropping more than 10% (MobileNet rule)."""
    min_value = min_value or divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class ConvBNAct(nn.Sequential):
    """Convolution (no bias) → BatchNorm → activation; ``act`` takes the channel count (PReLU)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int] = 3,
                 stride: int = 1, padding: int | tuple[int, int] | None = None, groups: int = 1,
                 act: Callable[[int], nn.Module] | None = nn.PReLU, bias: bool = False) -> None:
        if padding is None:
            padding = (kernel_size if isinstance(kernel_size, int) else kernel_size[0]) // 2
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=bias)
        self.bn = nn.BatchNorm2d(out_channels)
        if act is not None:
            self.act = act(out_channels)


class FlattenEmbedding(nn.Module):
    """FaceX-Zoo's "output layer": [BN2d] → [Dropout] → Flatten → Linear(C·h·w, D) → BN1d(D)."""

    def __init__(self, channels: int, out_h: int, out_w: int, embedding_size: int,
                 dropout: float = 0.0, batchnorm_first: bool = True, linear_bias: bool = True,
                 affine_last: bool = True) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels) if batchnorm_first else nn.Identity()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(channels * out_h * out_w, embedding_size, bias=linear_bias)
        self.bn_out = nn.BatchNorm1d(embedding_size, affine=affine_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn_out(self.linear(self.flatten(self.dropout(self.bn(x)))))


class SqueezeExcite(nn.Module):
    """Channel attention: global pool → reduce → activation → expand → gate, then rescale the input."""

    def __init__(self, channels: int, reduced: int, act: Callable[[], nn.Module] = nn.ReLU,
                 gate: Callable[[], nn.Module] = nn.Sigmoid, bias: bool = True) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, reduced, 1, bias=bias)
        self.act = act()
        self.expand = nn.Conv2d(reduced, channels, 1, bias=bias)
        self.gate = gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))


class DropPath(nn.Module):
    """Stochastic depth: drop a residual branch per sample with probability ``p`` in training."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep


def rename_output_layer(state_dict: dict, old_prefix: str = "output_layer", new_prefix: str = "output_layer") -> dict:
    """Map FaceX-Zoo's ``nn.Sequential`` output layer keys (``output_layer.0.weight`` …) onto
    :class:`FlattenEmbedding`'s named children; other keys pass through."""
    prefix = old_prefix + "."

    def split(key: str) -> tuple[int | None, str]:
        index, _, tail = key[len(prefix):].partition(".") if key.startswith(prefix) else ("", "", "")
        return (int(index) if index.isdigit() else None), tail

    names: dict[int, str] = {}  # the BatchNorms before and after the Linear (2-D weight) are bn and bn_out
    for index in sorted({split(key)[0] for key in state_dict} - {None}):
        linear = getattr(state_dict.get(f"{prefix}{index}.weight"), "ndim", 0) == 2
        names[index] = "linear" if linear else "bn_out" if "linear" in names.values() else "bn"
    out = {}
    for key, value in state_dict.items():
        index, tail = split(key)
        out[key if index is None else f"{new_prefix}.{names[index]}.{tail}"] = value
    return out
