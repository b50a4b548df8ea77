"""ReXNet (Han et al. 2021) for aligned faces, in FaceX-Zoo's layout (from clovaai/rexnet ``rexnetv1.py``).

At 112×112 with the defaults (16 blocks; ``w`` = width_mult)::

    stem        3x3 conv s1, 3 -> 32, BN, SiLU                                        112
    blocks      16 inverted bottlenecks, stages of 1/2/2/3/3/5 blocks (plugin.STAGE_*), 112 -> 7
                output channels growing linearly 16, 27, 38, ..., 185 (x w)
    final       1x1 conv 185 -> int(512 w), BN, SiLU (ImageNet ReXNet: 1280)            7
    output      BN2d -> Dropout -> Flatten -> Linear(int(512 w)*7*7, D) -> BN1d         D

The paper's point is the channel configuration: every block expands (the output has more
channels than the input) and the channel count grows *linearly* with the block index. A block is
[1×1 expand ×6, BN, SiLU] → 3×3 depthwise, BN → [squeeze-excitation] → ReLU6 → 1×1 projection, BN;
when the stride is 1 the input is added to the first ``C_in`` output channels (a partial identity,
because the block widens).
"""
from __future__ import annotations

import functools
import math

import torch
from torch import nn

from facex_core import Backbone, ConvBNAct, FlattenEmbedding, SqueezeExcite

from .plugin import STAGE_BLOCKS, STAGE_SE, STAGE_STRIDES, ReXNetConfig

STEM_CHANNELS = 32
#: Width of the last convolution at width_mult 1 (FaceX-Zoo's change from ImageNet ReXNet's 1280).
FINAL_CHANNELS = 512
#: Expansion of every block except those of the first stage (which have 1: no expansion conv).
EXPANSION = 6


def _silu(_channels: int) -> nn.Module:
    """SiLU for :class:`facex_core.ConvBNAct`, which passes the channel count (for PReLU)."""
    return nn.SiLU()


def _bn_relu(channels: int) -> nn.Module:
    """ReXNet's squeeze-excitation normalises its reduced vector before the ReLU."""
    return nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))


def channel_plan(config: ReXNetConfig) -> tuple[int, list[tuple[int, int]]]:
    """Stem width and ``(in, out)`` channels of every block: linear growth of ``final_ch / N`` per block.

    Follows the official code bit for bit (the running float sum, Python's half-to-even ``round``,
    and the rule that below width 1 the stem and first block keep their width-1 channel counts).
    """
    num_blocks = sum(math.ceil(n * config.depth_mult) for n in STAGE_BLOCKS)
    w = config.width_mult
    stem = STEM_CHANNELS / w if w < 1.0 else STEM_CHANNELS
    planes = config.input_ch / w if w < 1.0 else config.input_ch
    plan = [(int(round(stem * w)), int(round(planes * w)))]
    for _ in range(1, num_blocks):
        c_in = int(round(planes * w))
        planes += config.final_ch / num_blocks
        plan.append((c_in, int(round(planes * w))))
    return int(round(stem * w)), plan


class LinearBottleneck(nn.Module):
    """ReXNet's inverted bottleneck with a linear (activation-free) projection and partial identity."""

    def __init__(self, in_channels: int, out_channels: int, expansion: int, stride: int,
                 se_ratio: int | None) -> None:
        super().__init__()
        mid = in_channels * expansion
        self.expand = ConvBNAct(in_channels, mid, 1, act=_silu) if expansion != 1 else nn.Identity()
        self.depthwise = ConvBNAct(mid, mid, 3, stride, groups=mid, act=None)
        if se_ratio:
            reduced = mid // se_ratio
            self.se: nn.Module = SqueezeExcite(mid, reduced, act=functools.partial(_bn_relu, reduced))
        else:
            self.se = nn.Identity()
        self.act = nn.ReLU6()
        self.project = ConvBNAct(mid, out_channels, 1, act=None)
        self.in_channels = in_channels
        # the official rule; in ReXNet only the first block (32 -> 16) has fewer outputs than inputs
        self.shortcut = stride == 1 and in_channels <= out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.act(self.se(self.depthwise(self.expand(x)))))
        if not self.shortcut:
            return out
        if out.shape[1] == self.in_channels:
            return out + x
        # out-of-place form of out[:, :C_in] += x (export- and autograd-friendly)
        return torch.cat([out[:, :self.in_channels] + x, out[:, self.in_channels:]], dim=1)


class ReXNet(Backbone):
    """ReXNet: ``N×3×H×W`` aligned faces → ``N×D`` embeddings (not L2-normalised).

    Built from :class:`~facex_backbone_rexnet.plugin.ReXNetConfig` (component ``rexnet_1_0``); every
    ``width_mult`` works (FaceX-Zoo's embedding layer assumes 512 channels, i.e. width 1.0).
    """

    def __init__(self, config: ReXNetConfig | None = None) -> None:
        config = ReXNetConfig() if config is None else config
        super().__init__(config)

        stem, plan = channel_plan(config)
        depths = [math.ceil(n * config.depth_mult) for n in STAGE_BLOCKS]
        strides = [s if i == 0 else 1 for n, s in zip(depths, STAGE_STRIDES) for i in range(n)]
        se = [config.use_se and flag for n, flag in zip(depths, STAGE_SE) for _ in range(n)]
        expansions = [1] * depths[0] + [EXPANSION] * sum(depths[1:])

        self.stem = ConvBNAct(3, stem, 3, act=_silu)
        self.blocks = nn.Sequential(*(
            LinearBottleneck(c_in, c_out, t, s, config.se_ratio if use_se else None)
            for (c_in, c_out), t, s, use_se in zip(plan, expansions, strides, se)))
        last = int(FINAL_CHANNELS * config.width_mult)
        self.final = ConvBNAct(plan[-1][1], last, 1, act=_silu)
        out_h, out_w = config.map_size
        # sized from the real width: FaceX-Zoo hard-codes 512 and breaks for width_mult != 1
        self.output_layer = FlattenEmbedding(last, out_h, out_w, self.embedding_size,
                                             dropout=config.dropout_ratio)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.check_input(images)
        return self.output_layer(self.final(self.blocks(self.stem(images))))

    def stages(self) -> dict[str, nn.Module]:
        """Feature taps (:meth:`facex_core.Backbone.stages`): ``stem`` (full resolution), ``stage1`` …
        ``stage4`` = the last bottleneck at 1/2 … 1/16 of the input (56, 28, 14, 7 at 112) and ``final``
        (the 1×1 conv to 512·width_mult channels)."""
        strides = [s if i == 0 else 1 for n, s in zip(STAGE_BLOCKS, STAGE_STRIDES)
                   for i in range(math.ceil(n * self.config.depth_mult))]
        taps: dict[str, nn.Module] = {"stem": self.stem}
        level = 0
        for block, stride in zip(self.blocks, strides):
            level += stride == 2
            if level:
                taps[f"stage{level}"] = block
        taps["final"] = self.final
        return taps
