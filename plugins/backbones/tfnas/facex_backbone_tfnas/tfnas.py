"""TF-NAS-A (Hu et al. 2020) for faces, in the layout of FaceX-Zoo's ``backbone/TF_NAS.py``.

TF-NAS searches, under a latency budget, the operation (kernel 3/5, expansion, with or without
squeeze-excitation) and the hidden width of every MobileNetV2-style inverted-residual block of a
fixed macro-structure. TF-NAS-A is one searched result. For faces the first stem convolution keeps
the resolution (ImageNet: stride 2), so a 112×112 crop ends as a 1280×7×7 map, and the global pool
and classifier are replaced by a flatten+linear embedding::

    first_stem         3x3 conv 3 -> 32 + BN + ReLU                              32 x 112 x 112
    second_stem        block 32 -> 16 (no expansion, SE 8), ReLU                  16 x 112 x 112
    stage1 (ReLU)      2 blocks -> 24, first stride 2                             24 x 56 x 56
    stage2 (swish)     3 blocks -> 40, first stride 2                             40 x 28 x 28
    stage3 (swish)     4 blocks -> 80, first stride 2                             80 x 14 x 14
    stage4 (swish)     4 blocks -> 112                                           112 x 14 x 14
    stage5 (swish)     4 blocks -> 192, first stride 2                           192 x 7 x 7
    stage6 (swish)     1 block -> 320                                            320 x 7 x 7
    feature_mix_layer  1x1 conv 320 -> 1280 + BN (no activation)                1280 x 7 x 7
    output_layer       Dropout -> Flatten -> Linear(1280*7*7, D) -> BN1d          D

Module names follow FaceX-Zoo's except inside the shared core layers: squeeze-excitation
(``reduce``/``expand`` for ``conv_reduce``/``conv_expand``) and the output layer
(``linear``/``bn_out`` for ``output_layer.2``/``output_layer.3``).
"""
from __future__ import annotations

import torch
from torch import nn

from facex_core import Backbone, ConvBNAct, FlattenEmbedding, SqueezeExcite

from .plugin import TFNASConfig

#: One searched block: (input channels, hidden channels, SE channels (0 = none), output channels,
#: kernel, stride). A block whose hidden width does not exceed its input has no 1x1 expansion.
Block = tuple[int, int, int, int, int, int]

#: TF-NAS-A as searched (and as FaceX-Zoo ships it): per stage its activation and its blocks.
TFNAS_A: tuple[tuple[str, tuple[Block, ...]], ...] = (
    ("relu", ((16, 83, 32, 24, 3, 2), (24, 128, 0, 24, 5, 1))),
    ("swish", ((24, 138, 48, 40, 3, 2), (40, 297, 0, 40, 3, 1), (40, 170, 80, 40, 5, 1))),
    ("swish", ((40, 248, 80, 80, 5, 2), (80, 500, 0, 80, 3, 1), (80, 424, 0, 80, 3, 1),
               (80, 477, 0, 80, 3, 1))),
    ("swish", ((80, 504, 160, 112, 3, 1), (112, 796, 0, 112, 3, 1), (112, 723, 224, 112, 3, 1),
               (112, 555, 224, 112, 3, 1))),
    ("swish", ((112, 813, 0, 192, 3, 2), (192, 1370, 0, 192, 3, 1), (192, 1138, 384, 192, 3, 1),
               (192, 1359, 384, 192, 3, 1))),
    ("swish", ((192, 1203, 384, 320, 5, 1),)),
)
#: The two stems: 3x3 conv to 32 channels, then a non-expanding block 32 -> 16 with SE 8 (ReLU).
STEM_CHANNELS = 32
SECOND_STEM: Block = (32, 32, 8, 16, 3, 1)
#: Channels of the 1x1 feature-mixing conv that feeds the embedding.
FEATURE_CHANNELS = 1280

#: Activation by name (TF-NAS "swish" is x * sigmoid(x), i.e. SiLU).
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "swish": nn.SiLU}


class MBInvertedResBlock(nn.Module):
    """Inverted residual block (MobileNetV2) with optional squeeze-excitation, TF-NAS's only op.

    1×1 expansion to ``mid`` channels (omitted when ``mid <= in``) → k×k depthwise (stride s) →
    [SE: pool → 1×1 to ``se`` → act → 1×1 back → sigmoid gate] → 1×1 linear projection, plus the
    input when the block keeps shape. The SE bottleneck uses the block's own activation.
    """

    def __init__(self, block: Block, act: type[nn.Module]) -> None:
        super().__init__()
        in_channels, mid, se, out_channels, kernel, stride = block

        def channel_act(_channels: int) -> nn.Module:  # ConvBNAct passes the width (for PReLU)
            return act()

        if mid > in_channels:
            self.inverted_bottleneck: nn.Module = ConvBNAct(in_channels, mid, 1, act=channel_act)
        else:
            self.inverted_bottleneck = nn.Identity()
            mid = in_channels
        self.depth_conv = ConvBNAct(mid, mid, kernel, stride, groups=mid, act=channel_act)
        self.squeeze_excite = SqueezeExcite(mid, se, act=act, bias=True) if se > 0 else nn.Identity()
        self.point_linear = ConvBNAct(mid, out_channels, 1, act=None)
        self.has_residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.point_linear(self.squeeze_excite(self.depth_conv(self.inverted_bottleneck(x))))
        return x + y if self.has_residual else y


class TFNAS(Backbone):
    """TF-NAS-A: ``N×3×H×W`` aligned faces → ``N×D`` embeddings (not L2-normalised)."""

    def __init__(self, config: TFNASConfig | None = None) -> None:
        config = TFNASConfig() if config is None else config
        super().__init__(config)

        self.first_stem = ConvBNAct(3, STEM_CHANNELS, 3, act=lambda _: nn.ReLU())
        self.second_stem = MBInvertedResBlock(SECOND_STEM, nn.ReLU)
        for index, (act, blocks) in enumerate(TFNAS_A, start=1):
            stage = nn.Sequential(*(MBInvertedResBlock(b, ACTIVATIONS[act]) for b in blocks))
            self.add_module(f"stage{index}", stage)
        last_channels = TFNAS_A[-1][1][-1][3]
        self.feature_mix_layer = ConvBNAct(last_channels, FEATURE_CHANNELS, 1, act=None)
        out_h, out_w = config.map_size
        self.output_layer = FlattenEmbedding(FEATURE_CHANNELS, out_h, out_w, self.embedding_size,
                                             dropout=config.dropout, batchnorm_first=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """TF-NAS's initialisation: PyTorch's default weights, zero biases, BatchNorm 1 and 0."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
                nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.check_input(images)
        x = self.second_stem(self.first_stem(images))
        for stage in (self.stage1, self.stage2, self.stage3, self.stage4, self.stage5, self.stage6):
            x = stage(x)
        return self.output_layer(self.feature_mix_layer(x))

    def stages(self) -> dict[str, nn.Module]:
        """Feature taps (:meth:`facex_core.Backbone.stages`), named by resolution like every FaceX CNN:
        ``stem`` (second_stem, full resolution), ``stage1`` (TF-NAS stage1, 1/2), ``stage2`` (stage2, 1/4),
        ``stage3`` (stage4, the last at 1/8), ``stage4`` (stage6, the last at 1/16) and ``final``
        (feature_mix_layer). TF-NAS's own stage3 and stage5 are not taps."""
        return {"stem": self.second_stem, "stage1": self.stage1, "stage2": self.stage2, "stage3": self.stage4,
                "stage4": self.stage6, "final": self.feature_mix_layer}
