"""Residual Attention Network (Wang et al., CVPR 2017) in FaceX-Zoo's face layout.

Each attention module has a *trunk* (two residual blocks) and a *soft-mask* branch: a bottom-up /
top-down hourglass (max-pool down ``levels`` times, residual blocks, bilinear upsampling back, with
skip connections) ending in a sigmoid mask ``M``. The module outputs ``(1 + M) · T`` (attention
residual learning, paper eq. 3), so a mask near zero cannot erase the trunk's features.
At 112×112 (``width = 64``)::

    conv1            7x7 s2 conv 3 -> 64 + BN + ReLU (no max-pool)                     56
    attention_body   ResidualBlock 64 -> 256                                          56
                     modules[0] x stage-1 attention module (256, mask levels 3)       56
                     ResidualBlock 256 -> 512, s2                                     28
                     modules[1] x stage-2 attention module (512, mask levels 2)       28
                     ResidualBlock 512 -> 1024, s2                                    14
                     modules[2] x stage-3 attention module (1024, mask levels 1)      14
                     ResidualBlock 1024 -> 2048, s2; 2 x ResidualBlock 2048            7
    output_layer     flatten -> Linear(2048*7*7, D, bias=False) -> BatchNorm1d(D)

Module names follow FaceX-Zoo's ``backbone/AttentionNets.py`` (``softmax{k}_blocks``,
``skip{k}_connection_residual_block``, ...), except the output layer (the core's
:class:`facex_core.FlattenEmbedding`) and the shortcut convolution ``conv4``, which exists only
where a block changes channels or stride (FaceX-Zoo builds it in every block and uses it only there).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facex_core import Backbone, FlattenEmbedding, feature_map_size

from .plugin import NUM_HALVINGS, AttentionNetConfig

#: Down-samplings inside the soft-mask branch of the stage-1, stage-2 and stage-3 modules (the
#: mask always bottoms out at the stage-3 resolution's half: 7×7 at 112×112 input).
MASK_LEVELS = (3, 2, 1)


class ResidualBlock(nn.Module):
    """Pre-activation bottleneck: BN-ReLU-1×1 (C/4) → BN-ReLU-3×3 (stride) → BN-ReLU-1×1 (C).

    The shortcut is the input, or a 1×1 convolution (with the stride) of the pre-activated input
    when the channels or the resolution change.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        inner = out_channels // 4
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, inner, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(inner)
        self.conv2 = nn.Conv2d(inner, inner, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(inner)
        self.conv3 = nn.Conv2d(inner, out_channels, 1, bias=False)
        self.conv4 = (nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)
                      if in_channels != out_channels or stride != 1 else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = torch.relu(self.bn1(x))
        out = self.conv1(pre)
        out = self.conv2(torch.relu(self.bn2(out)))
        out = self.conv3(torch.relu(self.bn3(out)))
        return out + (x if self.conv4 is None else self.conv4(pre))


def residual_blocks(channels: int, count: int) -> nn.Module:
    """One residual block, or a Sequential of ``count`` (FaceX-Zoo's key layout for each case)."""
    if count == 1:
        return ResidualBlock(channels, channels)
    return nn.Sequential(*(ResidualBlock(channels, channels) for _ in range(count)))


class AttentionModule(nn.Module):
    """Trunk ``T`` plus an hourglass soft mask ``M`` with ``levels`` down-samplings; ``(1 + M) · T``.

    Down path, level ``k = 1..levels``: max-pool, ``softmax{k}_blocks`` (two residual blocks at the
    deepest level, one elsewhere) and, above the deepest level, a skip block
    ``skip{k}_connection_residual_block``. Up path: bilinear upsampling (``align_corners=True``) to
    the size of the level above, plus that level's down output and skip, then one residual block
    (``softmax{levels+1}..``); the top level adds the trunk instead. The mask head
    ``softmax{2·levels}_blocks`` is BN-ReLU-1×1-BN-ReLU-1×1-sigmoid.
    """

    def __init__(self, channels: int, size: tuple[int, int], levels: int) -> None:
        super().__init__()
        self.levels = levels
        self.first_residual_blocks = ResidualBlock(channels, channels)
        self.trunk_branches = residual_blocks(channels, 2)
        # sizes[k]: map size at mask level k (0 = the trunk's); each 3x3/s2/p1 max-pool rounds up
        self.sizes = [feature_map_size(size, k) for k in range(levels + 1)]
        for k in range(1, levels + 1):
            self.add_module(f"mpool{k}", nn.MaxPool2d(3, 2, 1))
            self.add_module(f"softmax{k}_blocks", residual_blocks(channels, 2 if k == levels else 1))
            if k < levels:
                self.add_module(f"skip{k}_connection_residual_block", ResidualBlock(channels, channels))
        for k in range(levels + 1, 2 * levels):
            self.add_module(f"softmax{k}_blocks", ResidualBlock(channels, channels))
        self.add_module(f"softmax{2 * levels}_blocks", nn.Sequential(
            nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels, 1, bias=False),
            nn.Sigmoid()))
        self.last_blocks = ResidualBlock(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first_residual_blocks(x)
        trunk = self.trunk_branches(x)
        down, skips = [], []
        y = x
        for k in range(1, self.levels + 1):
            y = getattr(self, f"softmax{k}_blocks")(getattr(self, f"mpool{k}")(y))
            down.append(y)
            if k < self.levels:
                skips.append(getattr(self, f"skip{k}_connection_residual_block")(y))
        # top-down: level k's result is upsampled to level k-1 and merged there
        for k in range(self.levels, 1, -1):
            up = F.interpolate(y, size=self.sizes[k - 1], mode="bilinear", align_corners=True)
            y = getattr(self, f"softmax{2 * self.levels - k + 1}_blocks")(up + down[k - 2] + skips[k - 2])
        up = F.interpolate(y, size=self.sizes[0], mode="bilinear", align_corners=True)
        mask = getattr(self, f"softmax{2 * self.levels}_blocks")(up + trunk)
        return self.last_blocks((1 + mask) * trunk)


class ResidualAttentionNet(Backbone):
    """Residual Attention Network with FaceX-Zoo's flatten+linear output layer:
    ``N×3×H×W`` aligned faces → ``N×D`` embeddings (not L2-normalised).

    Built from :class:`~facex_backbone_attention.plugin.AttentionNetConfig` (``attention56``) or
    ``Attention92Config`` (``attention92``).
    """

    def __init__(self, config: AttentionNetConfig | None = None) -> None:
        config = AttentionNetConfig() if config is None else config
        super().__init__(config)
        w = config.width
        # map size after the stem and after each stride-2 block: stage 1, stage 2, stage 3, last
        sizes = [feature_map_size(self.input_size, k) for k in range(1, NUM_HALVINGS + 1)]
        channels = (4 * w, 8 * w, 16 * w)

        self.conv1 = nn.Sequential(nn.Conv2d(3, w, 7, 2, 3, bias=False), nn.BatchNorm2d(w), nn.ReLU())
        body: list[nn.Module] = []
        previous = w
        for stage, (c, count, levels) in enumerate(zip(channels, config.modules, MASK_LEVELS)):
            body.append(ResidualBlock(previous, c, stride=1 if stage == 0 else 2))
            body.extend(AttentionModule(c, sizes[stage], levels) for _ in range(count))
            previous = c
        last = 32 * w
        body += [ResidualBlock(previous, last, stride=2), ResidualBlock(last, last),
                 ResidualBlock(last, last)]
        self.attention_body = nn.Sequential(*body)
        out_h, out_w = sizes[-1]
        self.output_layer = FlattenEmbedding(last, out_h, out_w, self.embedding_size,
                                             batchnorm_first=False, linear_bias=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.check_input(images)
        return self.output_layer(self.attention_body(self.conv1(images)))

    def stages(self) -> dict[str, nn.Module]:
        """Feature taps (:meth:`facex_core.Backbone.stages`): ``stem`` (conv1, 1/2 of the input) and
        ``stage1`` … ``stage4``, the last module at 1/2 … 1/16 (the end of attention stages 1–3, then the
        last residual block: 56, 28, 14, 7 at 112)."""
        taps: dict[str, nn.Module] = {"stem": self.conv1}
        index = -1
        for level, count in enumerate(self.config.modules, start=1):
            index += 1 + count  # the stage's residual block, then its attention modules
            taps[f"stage{level}"] = self.attention_body[index]
        taps[f"stage{len(self.config.modules) + 1}"] = self.attention_body[-1]
        return taps
