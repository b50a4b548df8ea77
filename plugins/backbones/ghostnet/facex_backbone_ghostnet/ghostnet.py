"""GhostNet (Han et al. 2020) for aligned faces, in FaceX-Zoo's layout (from huawei-noah/ghostnet).

At 112×112 and width 1.0 (``c(x) = make_divisible(x * width, 4)`` at other widths)::

    stem        3x3 conv s1, 3 -> c(16), BN, ReLU                                 112
    blocks      16 ghost bottlenecks of plugin.BLOCKS                              112 -> 7
    final       1x1 conv c(160) -> c(960), BN, ReLU                                7
    output      BN2d -> Dropout -> Flatten -> Linear(c(960)*7*7, D) -> BN1d        D

A ghost module (paper §3.1, Fig. 2b) makes half of its output channels with an ordinary 1×1
convolution and the other half from those with a cheap 3×3 depthwise convolution (ratio s = 2).
A ghost bottleneck (§3.2, Fig. 3) is ghost module (ReLU) → [k×k depthwise conv, stride 2] →
[squeeze-excitation, hard-sigmoid gate] → ghost module (linear), plus a shortcut: identity, or a
k×k depthwise + 1×1 convolution where the stride or the width changes.
"""
from __future__ import annotations

import torch
from torch import nn

from facex_core import Backbone, ConvBNAct, FlattenEmbedding, SqueezeExcite, make_divisible

from .plugin import BLOCKS, GhostNetConfig

STEM_CHANNELS = 16
FINAL_CHANNELS = 960
#: Channel counts are rounded to multiples of this (the GhostNet code's choice; MobileNets use 8).
DIVISOR = 4
#: Kernel of the cheap operation that makes the "ghost" feature maps.
CHEAP_KERNEL = 3


def conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1,
            relu: bool = False) -> ConvBNAct:
    """Bias-free k×k convolution (padding k//2) → BatchNorm → ReLU when ``relu``."""
    return ConvBNAct(in_channels, out_channels, kernel, stride, groups=groups,
                     act=(lambda _channels: nn.ReLU(inplace=True)) if relu else None)


class GhostModule(nn.Module):
    """``out_channels`` maps from ``ceil(out/2)`` 1×1-conv maps plus as many depthwise "ghosts" of them."""

    def __init__(self, in_channels: int, out_channels: int, relu: bool) -> None:
        super().__init__()
        intrinsic = -(-out_channels // 2)
        self.out_channels = out_channels
        self.primary = conv_bn(in_channels, intrinsic, 1, relu=relu)
        self.cheap = conv_bn(intrinsic, intrinsic, CHEAP_KERNEL, groups=intrinsic, relu=relu)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        primary = self.primary(x)
        out = torch.cat([primary, self.cheap(primary)], dim=1)
        # one ghost too many when out_channels is odd
        return out if out.shape[1] == self.out_channels else out[:, :self.out_channels]


class GhostBottleneck(nn.Module):
    """Ghost bottleneck (paper Fig. 3), with an optional stride-2 depthwise conv and squeeze-excitation."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int, kernel: int, stride: int,
                 se_ratio: float) -> None:
        super().__init__()
        self.expand = GhostModule(in_channels, hidden, relu=True)
        self.depthwise = (conv_bn(hidden, hidden, kernel, stride, groups=hidden) if stride > 1
                          else nn.Identity())
        self.se = (SqueezeExcite(hidden, make_divisible(hidden * se_ratio, DIVISOR), gate=nn.Hardsigmoid)
                   if se_ratio > 0 else nn.Identity())
        self.project = GhostModule(hidden, out_channels, relu=False)
        if stride == 1 and in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                conv_bn(in_channels, in_channels, kernel, stride, groups=in_channels),
                conv_bn(in_channels, out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.se(self.depthwise(self.expand(x)))) + self.shortcut(x)


class GhostNet(Backbone):
    """GhostNet: ``N×3×H×W`` aligned faces → ``N×D`` embeddings (not L2-normalised).

    Built from :class:`~facex_backbone_ghostnet.plugin.GhostNetConfig`; every ``width`` works
    (FaceX-Zoo's embedding layer assumes 960 channels, i.e. width 1.0).
    """

    def __init__(self, config: GhostNetConfig | None = None) -> None:
        config = GhostNetConfig() if config is None else config
        super().__init__(config)

        def channels(base: int) -> int:
            return make_divisible(base * config.width, DIVISOR)

        c_in = channels(STEM_CHANNELS)
        self.stem = conv_bn(3, c_in, 3, relu=True)
        blocks: list[nn.Module] = []
        for kernel, hidden, out, se_ratio, stride in BLOCKS:
            blocks.append(GhostBottleneck(c_in, channels(hidden), channels(out), kernel, stride, se_ratio))
            c_in = channels(out)
        self.blocks = nn.Sequential(*blocks)
        self.final = conv_bn(c_in, channels(FINAL_CHANNELS), 1, relu=True)
        out_h, out_w = config.map_size
        self.output_layer = FlattenEmbedding(channels(FINAL_CHANNELS), out_h, out_w, self.embedding_size,
                                             dropout=config.drop_ratio)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.check_input(images)
        return self.output_layer(self.final(self.blocks(self.stem(images))))

    def stages(self) -> dict[str, nn.Module]:
        """Feature taps (:meth:`facex_core.Backbone.stages`): ``stem`` (full resolution), ``stage1`` …
        ``stage4`` = the last ghost bottleneck at 1/2 … 1/16 of the input (56, 28, 14, 7 at 112) and
        ``final`` (the 1×1 conv to 960·width channels)."""
        taps: dict[str, nn.Module] = {"stem": self.stem}
        level = 0
        for block, (*_, stride) in zip(self.blocks, BLOCKS):
            level += stride == 2
            if level:
                taps[f"stage{level}"] = block
        taps["final"] = self.final
        return taps
