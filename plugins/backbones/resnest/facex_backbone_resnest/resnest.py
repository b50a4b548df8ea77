"""ResNeSt (Zhang et al. 2020) for faces, in the layout of FaceX-Zoo's ``backbone/resnest``.

ResNeSt is a ResNet-D whose bottleneck 3×3 convolution is a *split-attention* convolution: it
computes ``radix`` feature-map groups, averages them, derives per-channel weights from the globally
pooled average, normalises those weights across the groups with a softmax ("r-softmax") and returns
the weighted sum (paper §3.1, Fig. 2). FaceX-Zoo drops the ImageNet deep stem and max-pool and puts
a stride-1 face input layer in front, so the four stride-2 stages take 112 to 7::

    input_layer   3x3 conv 3 -> 2*stem_width (no bias) + BN + PReLU       2*stem_width x 112 x 112
    body.layer1   layers[0] bottlenecks, 64 -> 256 ch, first stride 2           256 x 56 x 56
    body.layer2   layers[1] bottlenecks, 128 -> 512 ch, first stride 2          512 x 28 x 28
    body.layer3   layers[2] bottlenecks, 256 -> 1024 ch, first stride 2        1024 x 14 x 14
    body.layer4   layers[3] bottlenecks, 512 -> 2048 ch, first stride 2        2048 x 7 x 7
    output_layer  BN2d -> Dropout -> Flatten -> Linear(2048*7*7, D) -> BN1d       D

Bottleneck (radix 2, cardinality 1, base width 64, "avd" and "avg_down" on, as in every published
ResNeSt): 1×1 conv → split-attention 3×3 → [3×3 average pool, stride s] → 1×1 conv to 4× width; the
shortcut, when the shape changes, is [2×2 average pool, stride s] → 1×1 conv → BN.

Module names follow FaceX-Zoo's (``body.layerN.i.conv2.fc1`` …) except in the shared output layer
(``bn``/``linear``/``bn_out`` for ``output_layer.0/3/4``). Unlike FaceX-Zoo's ResNeSt, the embedding
is returned unnormalised, like every FaceX backbone.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from facex_core import Backbone, FlattenEmbedding

from .plugin import ResNeStConfig

#: Bottleneck widths of the four stages; each block outputs ``EXPANSION`` times as many channels.
STAGE_WIDTHS = (64, 128, 256, 512)
EXPANSION = 4
#: Split-attention bottleneck: hidden width = max(channels * radix // REDUCTION, MIN_ATTENTION).
REDUCTION, MIN_ATTENTION = 4, 32


class SplitAttentionConv(nn.Module):
    """3×3 split-attention convolution (FaceX-Zoo / ResNeSt ``SplAtConv2d``, cardinality 1).

    One grouped convolution makes ``radix`` splits of ``channels`` maps; their sum is pooled and
    passed through a 1×1 → BN → ReLU → 1×1 bottleneck to one logit per split and channel; a softmax
    over the splits (a sigmoid when ``radix`` is 1) weights the splits, which are then summed.
    """

    def __init__(self, channels: int, radix: int) -> None:
        super().__init__()
        self.channels, self.radix = channels, radix
        hidden = max(channels * radix // REDUCTION, MIN_ATTENTION)
        self.conv = nn.Conv2d(channels, channels * radix, 3, 1, 1, groups=radix, bias=False)
        self.bn0 = nn.BatchNorm2d(channels * radix)
        self.relu = nn.ReLU()
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.fc2 = nn.Conv2d(hidden, channels * radix, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # split dimension next to the batch one, without naming the batch size (dynamic in exports)
        splits = self.relu(self.bn0(self.conv(x))).unflatten(1, (self.radix, self.channels))
        pooled = splits.sum(dim=1).mean(dim=(2, 3), keepdim=True)
        logits = self.fc2(self.relu(self.bn1(self.fc1(pooled)))).unflatten(1, (self.radix, self.channels))
        weights = logits.softmax(dim=1) if self.radix > 1 else logits.sigmoid()
        return (splits * weights).sum(dim=1)


class SplitAttentionBottleneck(nn.Module):
    """ResNeSt bottleneck: 1×1 → split-attention 3×3 → [avg-pool stride s] → 1×1 (×4), plus the
    shortcut; the stride sits in an average pool after the attention ("avd"), and a projecting
    shortcut average-pools before its 1×1 conv ("avg_down", ResNet-D)."""

    def __init__(self, in_channels: int, width: int, stride: int, radix: int) -> None:
        super().__init__()
        out_channels = width * EXPANSION
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = SplitAttentionConv(width, radix)
        self.avd_layer = nn.AvgPool2d(3, stride, 1) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        if stride > 1 or in_channels != out_channels:
            pool = (nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False)
                    if stride > 1 else nn.Identity())
            self.downsample: nn.Module | None = nn.Sequential(
                pool, nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))
        else:
            self.downsample = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn3(self.conv3(self.avd_layer(self.conv2(y))))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(y + shortcut)


class ResNeSt(Backbone):
    """ResNeSt: ``N×3×H×W`` aligned faces → ``N×D`` embeddings (not L2-normalised)."""

    def __init__(self, config: ResNeStConfig | None = None) -> None:
        config = ResNeStConfig() if config is None else config
        super().__init__(config)
        stem = config.stem_channels
        self.input_layer = nn.Sequential(nn.Conv2d(3, stem, 3, 1, 1, bias=False), nn.BatchNorm2d(stem),
                                         nn.PReLU(stem))
        stages, channels = [], stem
        for index, (width, count) in enumerate(zip(STAGE_WIDTHS, config.stage_layers), start=1):
            blocks = []
            for i in range(count):
                blocks.append(SplitAttentionBottleneck(channels, width, 2 if i == 0 else 1, config.radix))
                channels = width * EXPANSION
            stages.append((f"layer{index}", nn.Sequential(*blocks)))
        self.body = nn.Sequential(OrderedDict(stages))
        out_h, out_w = config.map_size
        self.output_layer = FlattenEmbedding(channels, out_h, out_w, self.embedding_size,
                                             dropout=config.dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """ResNeSt's initialisation: He-normal (fan-out) convolutions with zero biases, BatchNorm 1
        and 0; the PReLU (0.25) and the linear layer keep PyTorch's defaults."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.check_input(images)
        return self.output_layer(self.body(self.input_layer(images)))

    def stages(self) -> dict[str, nn.Module]:
        """Feature taps (:meth:`facex_core.Backbone.stages`): ``stem`` (input_layer, full resolution) and
        ``stage1`` … ``stage4`` (body.layer1 … layer4: 1/2 … 1/16 of the input)."""
        taps: dict[str, nn.Module] = {"stem": self.input_layer}
        taps.update({f"stage{name[len('layer'):]}": layer for name, layer in self.body.named_children()})
        return taps
