"""LightCNN (Wu et al., TIFS 2018): Max-Feature-Map networks, in FaceX-Zoo's face layout.

Every convolution computes ``2·C`` maps and the Max-Feature-Map (MFM) activation keeps the element-wise
maximum of the two halves (paper eq. 1): a competitive, parameter-free non-linearity that also halves
the width. A "group" is a 1×1 MFM followed by a 3×3 MFM (the paper's ``conv{k}a`` / ``conv{k}`` pair).
At 112×112 with the default (LightCNN-29 v2) config::

    conv1    5x5 MFM conv 3 -> 48                            pool   56
    block1   1 MFM residual block (48),  group1 48 -> 96      pool   28
    block2   2 residual blocks (96),     group2 96 -> 192     pool   14
    block3   3 residual blocks (192),    group3 192 -> 128           14
    block4   4 residual blocks (128),    group4 128 -> 128    pool    7
    output   BN2d(128) -> Dropout -> flatten -> Linear(128*7*7, D) -> BatchNorm1d(D)

LightCNN-9 is the same stack without residual blocks and with max-pooling only (the paper's
9-layer network: conv1, conv2a/2, conv3a/3, conv4a/4, conv5a/5). Module names follow FaceX-Zoo's
``backbone/LightCNN.py`` (``conv1.filter``, ``block1.0.conv1.filter``, ``group1.conv_a.filter``, ...),
except the output layer, which is the core's :class:`facex_core.FlattenEmbedding`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facex_core import Backbone, FlattenEmbedding

from .plugin import LightCNNConfig


class MFMConv(nn.Module):
    """Convolution to ``2·out_channels`` maps (with bias) → Max-Feature-Map: the element-wise max of
    the first and the second half of the channels (paper eq. 1)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 3, padding: int = 1) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.filter = nn.Conv2d(in_channels, 2 * out_channels, kernel, 1, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, second = torch.split(self.filter(x), self.out_channels, dim=1)
        return torch.maximum(first, second)


class Group(nn.Module):
    """1×1 MFM (same width, a network-in-network layer) → 3×3 MFM to ``out_channels``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv_a = MFMConv(in_channels, in_channels, kernel=1, padding=0)
        self.conv = MFMConv(in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.conv_a(x))


class ResBlock(nn.Module):
    """Two 3×3 MFM convolutions with an identity shortcut (no BatchNorm, as in LightCNN-29)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = MFMConv(channels, channels)
        self.conv2 = MFMConv(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x)) + x


class Downsample(nn.Module):
    """2×2 stride-2 pooling, rounding odd sides up (``ceil_mode``): a max-pool, plus an average-pool
    of the same windows when ``with_average`` (LightCNN-29 v2)."""

    def __init__(self, with_average: bool) -> None:
        super().__init__()
        self.with_average = with_average

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.max_pool2d(x, 2, 2, ceil_mode=True)
        if self.with_average:
            out = out + F.avg_pool2d(x, 2, 2, ceil_mode=True)
        return out


class LightCNN(Backbone):
    """LightCNN with FaceX-Zoo's output layer: ``N×3×H×W`` aligned faces → ``N×D`` embeddings
    (not L2-normalised).

    Built from :class:`~facex_backbone_lightcnn.plugin.LightCNNConfig` (``lightcnn29``) or
    ``LightCNN9Config`` (``lightcnn9``).
    """

    def __init__(self, config: LightCNNConfig | None = None) -> None:
        config = LightCNNConfig() if config is None else config
        super().__init__(config)
        c0, c1, c2, c3, c4 = config.channels
        average = config.pooling == "max+avg"

        self.conv1 = MFMConv(3, c0, kernel=5, padding=2)
        self.pool1 = Downsample(average)
        self.block1 = nn.Sequential(*(ResBlock(c0) for _ in range(config.blocks[0])))
        self.group1 = Group(c0, c1)
        self.pool2 = Downsample(average)
        self.block2 = nn.Sequential(*(ResBlock(c1) for _ in range(config.blocks[1])))
        self.group2 = Group(c1, c2)
        self.pool3 = Downsample(average)
        self.block3 = nn.Sequential(*(ResBlock(c2) for _ in range(config.blocks[2])))
        self.group3 = Group(c2, c3)
        self.block4 = nn.Sequential(*(ResBlock(c3) for _ in range(config.blocks[3])))
        self.group4 = Group(c3, c4)
        self.pool4 = Downsample(average)
        out_h, out_w = config.map_size
        self.output_layer = FlattenEmbedding(c4, out_h, out_w, self.embedding_size, dropout=config.dropout)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.check_input(images)
        x = self.pool1(self.conv1(images))
        x = self.pool2(self.group1(self.block1(x)))
        x = self.pool3(self.group2(self.block2(x)))
        x = self.group4(self.block4(self.group3(self.block3(x))))
        return self.output_layer(self.pool4(x))

    def stages(self) -> dict[str, nn.Module]:
        """Feature taps (:meth:`facex_core.Backbone.stages`): ``stem`` (conv1, full resolution) and
        ``stage1`` … ``stage4``, the last map at 1/2 … 1/16 of the input: group1 (56 at 112), group2 (28),
        group4 (14) and pool4 (7)."""
        return {"stem": self.conv1, "stage1": self.group1, "stage2": self.group2, "stage3": self.group4,
                "stage4": self.pool4}
