"""EfficientNet (Tan & Le 2019) for aligned faces, in FaceX-Zoo's layout
(taken over from lukemelas/EfficientNet-PyTorch).

B0 at 112×112 (``c(x) = make_divisible(x * width)``, ``r(n) = ceil(n * depth)`` for B1 … B7)::

    stem        3x3 conv s1, 3 -> c(32), BN, SiLU                                  112
    blocks      MBConv stages of plugin.STAGES, r(repeats) blocks each; the first   112 -> 7
                block of a stage has its stride and the channel change, the others
                are residual (with stochastic depth)
    head        1x1 conv c(320) -> c(1280), BN, SiLU                                 7
    output      BN2d -> Dropout -> Flatten -> Linear(c(1280)*7*7, D) -> BN1d         D

MBConv (paper Table 1, from MobileNetV2 / MnasNet): 1×1 expand (×6; absent when the expansion is 1)
→ k×k depthwise → squeeze-excitation (reduced to a quarter of the *block input* channels, SiLU) →
1×1 linear projection. All convolutions use TensorFlow "same" padding computed for the real map
sizes (the extra pixel of a stride-2 convolution goes bottom/right) — or, with
``facexzoo_image_size = N``, computed as FaceX-Zoo computes it (for N×N at the stem, then for half
of N, halved by each stride), which FaceX-Zoo's trained weights need; BatchNorm momentum 0.01 and
eps 1e-3 (TensorFlow's 0.99 decay), except in the output layer (PyTorch defaults, as in FaceX-Zoo).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from facex_core import Backbone, DropPath, FlattenEmbedding, SqueezeExcite, make_divisible

from .plugin import STAGES, EfficientNetConfig, conv_output, same_padding

STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
#: Squeeze-excitation width as a fraction of the block's input channels.
SE_RATIO = 0.25
BN_MOMENTUM, BN_EPS = 0.01, 1e-3


class ConvBN(nn.Module):
    """Bias-free convolution with static "same" padding for a known input size → BN → SiLU (optional).

    The padding is TensorFlow's for ``padded_for`` (default: the real ``in_size``); ``pads`` is
    ``((top, bottom), (left, right))`` and ``out_size`` the output's real (H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int,
                 in_size: tuple[int, int], groups: int = 1, act: bool = True,
                 padded_for: tuple[int, int] | None = None) -> None:
        super().__init__()
        padded_for = in_size if padded_for is None else padded_for
        (top, bottom), (left, right) = self.pads = tuple(same_padding(n, kernel, stride) for n in padded_for)
        if top == bottom and left == right:
            self.pad: nn.Module = nn.Identity()
            padding = (top, left)
        else:
            self.pad = nn.ZeroPad2d((left, right, top, bottom))
            padding = (0, 0)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act = nn.SiLU() if act else nn.Identity()
        self.out_size = (conv_output(in_size[0], kernel, stride, (top, bottom)),
                         conv_output(in_size[1], kernel, stride, (left, right)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(self.pad(x))))


class MBConv(nn.Module):
    """Mobile inverted bottleneck with squeeze-excitation; residual (through stochastic depth with
    probability ``drop_path``) when the stride is 1 and the channel count does not change.
    ``padded_for``: the input size the depthwise convolution's padding is computed for (default:
    ``in_size``); the 1×1 convolutions need none."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, expansion: int,
                 in_size: tuple[int, int], drop_path: float, padded_for: tuple[int, int] | None = None) -> None:
        super().__init__()
        mid = in_channels * expansion
        self.expand = ConvBN(in_channels, mid, 1, 1, in_size) if expansion != 1 else nn.Identity()
        self.depthwise = ConvBN(mid, mid, kernel, stride, in_size, groups=mid, padded_for=padded_for)
        self.se = SqueezeExcite(mid, max(1, int(in_channels * SE_RATIO)), act=nn.SiLU)
        self.project = ConvBN(mid, out_channels, 1, 1, self.depthwise.out_size, act=False)
        self.residual = stride == 1 and in_channels == out_channels
        self.drop_path = DropPath(drop_path) if self.residual else nn.Identity()
        self.out_size = self.depthwise.out_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.se(self.depthwise(self.expand(x))))
        return x + self.drop_path(y) if self.residual else y


class EfficientNet(Backbone):
    """EfficientNet: ``N×3×H×W`` aligned faces → ``N×D`` embeddings (not L2-normalised).

    Built from :class:`~facex_backbone_efficientnet.plugin.EfficientNetConfig` (B0) or one of its
    B1 … B7 subclasses; every width works (FaceX-Zoo's fails beyond 1.0, see the README).
    ``facexzoo_image_size`` pads as FaceX-Zoo does (see the module docstring).
    """

    def __init__(self, config: EfficientNetConfig | None = None) -> None:
        config = EfficientNetConfig() if config is None else config
        super().__init__(config)

        def channels(base: int) -> int:  # the paper's width scaling, TF rounding
            return make_divisible(base * config.width)

        stages = [(math.ceil(repeats * config.depth), kernel, stride, expansion, channels(out))
                  for repeats, kernel, stride, expansion, out in STAGES]
        num_blocks = sum(s[0] for s in stages)

        # FaceX-Zoo pads for the square image_size, then for half of it: it removed the ImageNet
        # stem's stride but kept the stem's halving of its padding bookkeeping
        zoo = config.facexzoo_image_size
        self.stem = ConvBN(3, channels(STEM_CHANNELS), 3, 1, self.input_size, padded_for=(zoo, zoo) if zoo else None)
        size, c_in = self.stem.out_size, channels(STEM_CHANNELS)
        assumed = (-(-zoo // 2),) * 2 if zoo else None
        blocks: list[MBConv] = []
        for repeats, kernel, stride, expansion, c_out in stages:
            for i in range(repeats):
                s = stride if i == 0 else 1
                # stochastic depth grows linearly with the block index (0 for the first block)
                block = MBConv(c_in, c_out, kernel, s, expansion, size,
                               drop_path=config.drop_connect * len(blocks) / num_blocks, padded_for=assumed)
                blocks.append(block)
                size, c_in = block.out_size, c_out
                if assumed is not None:
                    assumed = (-(-assumed[0] // s), -(-assumed[1] // s))
        self.blocks = nn.Sequential(*blocks)
        self.head = ConvBN(c_in, channels(HEAD_CHANNELS), 1, 1, size)
        assert size == config.map_size, (size, config.map_size)
        # sized from the head's real width: FaceX-Zoo hard-codes 1280 here and breaks for width > 1
        self.output_layer = FlattenEmbedding(channels(HEAD_CHANNELS), size[0], size[1],
                                             self.embedding_size, dropout=config.drop_ratio)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.check_input(images)
        return self.output_layer(self.head(self.blocks(self.stem(images))))

    def stages(self) -> dict[str, nn.Module]:
        """Feature taps (:meth:`facex_core.Backbone.stages`): ``stem`` (full resolution), ``stage1`` …
        ``stage4`` = the last MBConv block at 1/2 … 1/16 of the input (56, 28, 14, 7 at 112: the ends of
        the 24-, 40-, 112- and 320-channel stages of B0) and ``final`` (the 1×1 head convolution)."""
        ends: dict[tuple[int, int], nn.Module] = {}
        for block in self.blocks:
            if block.out_size != self.stem.out_size:
                ends[block.out_size] = block  # insertion order = resolution order; the last block wins
        return {"stem": self.stem, **{f"stage{k}": b for k, b in enumerate(ends.values(), start=1)},
                "final": self.head}
