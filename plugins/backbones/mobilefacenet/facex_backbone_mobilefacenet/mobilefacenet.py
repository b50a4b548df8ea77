"""MobileFaceNet (Chen et al. 2018) in the FaceX-Zoo / InsightFace_Pytorch layout, and InsightFace's MBF.

At 112×112 the trunk halves the resolution four times (112 → 56 → 28 → 14 → 7); a 1×1 conv lifts the
last map to 512 channels, a global depthwise convolution (GDConv, kernel = the whole map) reduces it
to a 512-vector, and a bias-free linear layer plus BatchNorm1d gives the embedding::

    conv1       3x3 s2 conv 3 -> C1                       (C1 = 64*width, C2 = 128*width)   56
    conv2_dw    3x3 conv C1 -> C1, 64 groups  (or residual blocks when blocks[0] > 1)      56
    conv_23     bottleneck C1 -> C1, expansion 128, s2                                     28
    conv_3      blocks[1] residual bottlenecks, C1, expansion 128                          28
    conv_34     bottleneck C1 -> C2, expansion 256, s2                                     14
    conv_4      blocks[2] residual bottlenecks, C2, expansion 256                          14
    conv_45     bottleneck C2 -> C2, expansion 512, s2                                      7
    conv_5      blocks[3] residual bottlenecks, C2, expansion 256                           7
    conv_6_sep  1x1 conv C2 -> 512 (+BN +PReLU)                                              7
    conv_6_dw   GDConv: depthwise (out_h x out_w) conv 512 -> 512 (+BN, no activation)      1
    linear, bn  flatten -> Linear(512, D, bias=False) -> BatchNorm1d(D)

Module names follow FaceX-Zoo's ``backbone/MobileFaceNets.py``, so a FaceX-Zoo MobileFaceNet
``state_dict`` loads into ``MobileFaceNet(MobileFaceNetConfig())`` unchanged.
"""
from __future__ import annotations

import torch
from torch import nn

from facex_core import Backbone, ConvBNAct

from .plugin import MobileFaceNetConfig

#: Channels after ``conv_6_sep``: the width the GDConv and the final linear layer work at.
FEATURE_CHANNELS = 512
#: Groups of ``conv2_dw`` (64 = depthwise at width 1; InsightFace keeps 64 at every width).
CONV2_GROUPS = 64
#: Expansion (hidden) widths of the bottlenecks: (stage 56/28, s2 to 14, stage 14, s2 to 7, stage 7).
EXPANSION_28, EXPANSION_TO_14, EXPANSION_14, EXPANSION_TO_7, EXPANSION_7 = 128, 256, 256, 512, 256


class ConvBlock(nn.Module):
    """Convolution without bias → BatchNorm2d → PReLU (FaceX-Zoo's ``Conv_block``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int | tuple[int, int] = 1,
                 stride: int = 1, padding: int = 0, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.prelu = nn.PReLU(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.bn(self.conv(x)))


def linear_block(in_channels: int, out_channels: int, kernel: int | tuple[int, int] = 1,
                 groups: int = 1) -> ConvBNAct:
    """Convolution without bias or padding → BatchNorm2d, no activation (FaceX-Zoo's ``Linear_block``;
    its ``conv``/``bn`` keys are those of :class:`facex_core.ConvBNAct`)."""
    return ConvBNAct(in_channels, out_channels, kernel, padding=0, groups=groups, act=None)


class DepthWise(nn.Module):
    """Inverted bottleneck (FaceX-Zoo's ``Depth_Wise``): 1×1 expand to ``expansion`` channels →
    3×3 depthwise with ``stride`` → 1×1 linear projection, plus the input when ``residual``."""

    def __init__(self, in_channels: int, out_channels: int, expansion: int, stride: int,
                 residual: bool) -> None:
        super().__init__()
        if residual and (stride != 1 or in_channels != out_channels):
            raise ValueError("a residual bottleneck needs stride 1 and equal input/output channels")
        self.conv = ConvBlock(in_channels, expansion)
        self.conv_dw = ConvBlock(expansion, expansion, 3, stride, 1, groups=expansion)
        self.project = linear_block(expansion, out_channels)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.conv_dw(self.conv(x)))
        return x + y if self.residual else y


class Residual(nn.Module):
    """``num_blocks`` stride-1 residual :class:`DepthWise` bottlenecks (FaceX-Zoo's ``Residual``)."""

    def __init__(self, channels: int, num_blocks: int, expansion: int) -> None:
        super().__init__()
        self.model = nn.Sequential(*(DepthWise(channels, channels, expansion, 1, residual=True)
                                     for _ in range(num_blocks)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class MobileFaceNet(Backbone):
    """MobileFaceNet: ``N×3×H×W`` aligned faces → ``N×D`` embeddings (not L2-normalised).

    Built from :class:`~facex_backbone_mobilefacenet.plugin.MobileFaceNetConfig` (component
    ``mobilefacenet``) or ``MBFConfig`` (component ``mbf``, ``width=2``).
    """

    def __init__(self, config: MobileFaceNetConfig | None = None) -> None:
        config = MobileFaceNetConfig() if config is None else config
        super().__init__(config)
        c1, c2 = 64 * config.width, 128 * config.width
        first, n28, n14, n7 = config.blocks

        self.conv1 = ConvBlock(3, c1, 3, stride=2, padding=1)
        if first == 1:
            self.conv2_dw: nn.Module = ConvBlock(c1, c1, 3, stride=1, padding=1, groups=CONV2_GROUPS)
        else:
            self.conv2_dw = Residual(c1, first, EXPANSION_28)
        self.conv_23 = DepthWise(c1, c1, EXPANSION_28, stride=2, residual=False)
        self.conv_3 = Residual(c1, n28, EXPANSION_28)
        self.conv_34 = DepthWise(c1, c2, EXPANSION_TO_14, stride=2, residual=False)
        self.conv_4 = Residual(c2, n14, EXPANSION_14)
        self.conv_45 = DepthWise(c2, c2, EXPANSION_TO_7, stride=2, residual=False)
        self.conv_5 = Residual(c2, n7, EXPANSION_7)
        self.conv_6_sep = ConvBlock(c2, FEATURE_CHANNELS)
        self.conv_6_dw = linear_block(FEATURE_CHANNELS, FEATURE_CHANNELS, config.map_size,
                                      groups=FEATURE_CHANNELS)
        self.conv_6_flatten = nn.Flatten()
        self.linear = nn.Linear(FEATURE_CHANNELS, self.embedding_size, bias=False)
        self.bn = nn.BatchNorm1d(self.embedding_size)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-normal (fan-out, ReLU gain) convolutions and linear layer; BatchNorm 1 and 0;
        PReLU slopes 0.25."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.PReLU):
                nn.init.constant_(m.weight, 0.25)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.check_input(images)
        x = self.conv1(images)
        x = self.conv2_dw(x)
        x = self.conv_23(x)
        x = self.conv_3(x)
        x = self.conv_34(x)
        x = self.conv_4(x)
        x = self.conv_45(x)
        x = self.conv_5(x)
        x = self.conv_6_sep(x)
        x = self.conv_6_dw(x)
        x = self.conv_6_flatten(x)
        return self.bn(self.linear(x))

    def stages(self) -> dict[str, nn.Module]:
        """Feature taps (:meth:`facex_core.Backbone.stages`), named by resolution like every FaceX CNN
        (``stageK`` = the last map at 1/2^K of the input): ``stem`` (conv1, 1/2), ``stage1`` (conv2_dw,
        1/2), ``stage2`` (conv_3, 1/4), ``stage3`` (conv_4, 1/8), ``stage4`` (conv_5, 1/16: 7×7 at 112)
        and ``final`` (conv_6_sep, 512 channels before the GDConv)."""
        return {"stem": self.conv1, "stage1": self.conv2_dw, "stage2": self.conv_3, "stage3": self.conv_4,
                "stage4": self.conv_5, "final": self.conv_6_sep}
