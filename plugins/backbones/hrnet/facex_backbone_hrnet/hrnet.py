"""HRNet (Wang et al., TPAMI 2020) with the classification head, in FaceX-Zoo's face layout.

HRNet keeps a high-resolution branch through the whole network and adds one half-resolution branch
per stage; inside each multi-resolution module every branch runs its own residual blocks, then every
branch receives the sum of all branches resampled to its size ("fusion"). At 112×112 with the default
(W18) config::

    stem     3x3 s2 conv 3->64, 3x3 s1 conv 64->64 (FaceX-Zoo drops the second stride)      56
    layer1   4 Bottlenecks, 64 -> 256                                                        56
    stage2   1 module,  branches 18, 36            at 56, 28
    stage3   4 modules, branches 18, 36, 72        at 56, 28, 14
    stage4   3 modules, branches 18, 36, 72, 144   at 56, 28, 14, 7
    head     per-branch Bottleneck to 128/256/512/1024, summed top-down through 3x3 s2 convs,
             1x1 conv -> 2048                                                                 7
    output   flatten -> Linear(2048*7*7, D, bias=False) -> BatchNorm1d(D)

Module names follow HRNet-Image-Classification's ``cls_hrnet.py`` (and so FaceX-Zoo's ``HRNet.py``),
except the output layer, which is the core's :class:`facex_core.FlattenEmbedding`.
"""
from __future__ import annotations

import torch
from torch import nn

from facex_core import Backbone, FlattenEmbedding, feature_map_size

from .plugin import NUM_HALVINGS, HRNetConfig

#: Channel expansion of a Bottleneck block (output = 4 × its inner width).
BOTTLENECK_EXPANSION = 4


def conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int = 1, relu: bool = True,
            bias: bool = False) -> nn.Sequential:
    """Convolution ("same" padding for odd kernels) → BatchNorm2d → optional ReLU."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=bias),
        nn.BatchNorm2d(out_channels)]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN layers with an identity shortcut (ResNet basic block, equal channels)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + x)


class Bottleneck(nn.Module):
    """1×1 reduce → 3×3 → 1×1 expand (×4) with a shortcut; a 1×1 conv-BN projects the shortcut when
    the channel count changes."""

    def __init__(self, in_channels: int, planes: int) -> None:
        super().__init__()
        out_channels = planes * BOTTLENECK_EXPANSION
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.downsample = (conv_bn(in_channels, out_channels, 1, relu=False)
                           if in_channels != out_channels else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        return torch.relu(self.bn3(self.conv3(out)) + self.downsample(x))


def bottleneck_layer(in_channels: int, planes: int, count: int) -> nn.Sequential:
    """``count`` Bottlenecks of inner width ``planes``; the first one adapts the channel count."""
    return nn.Sequential(*(Bottleneck(in_channels if i == 0 else planes * BOTTLENECK_EXPANSION, planes)
                           for i in range(count)))


def fuse_path(channels: list[int], sizes: list[tuple[int, int]], source: int, target: int) -> nn.Module:
    """Resample branch ``source`` to the channels and size of branch ``target``.

    Lower resolution → higher: 1×1 conv-BN, then nearest upsampling to the target's size (the
    original's ``scale_factor = 2**(source - target)``, which only fits when every side is even).
    Higher → lower: ``target - source`` 3×3 stride-2 conv-BNs, with ReLU between them and the
    channel change in the last one. Same branch: identity.
    """
    if source > target:
        return nn.Sequential(
            nn.Conv2d(channels[source], channels[target], 1, bias=False),
            nn.BatchNorm2d(channels[target]),
            nn.Upsample(size=sizes[target], mode="nearest"))
    if source == target:
        return nn.Identity()
    steps = target - source
    return nn.Sequential(*(
        conv_bn(channels[source], channels[target] if k == steps - 1 else channels[source], 3, stride=2,
                relu=k < steps - 1)
        for k in range(steps)))


class HighResolutionModule(nn.Module):
    """One multi-resolution module: ``blocks`` BasicBlocks on every branch, then full fusion:
    output ``i`` = ReLU(Σ_j resample_{j→i}(branch_j))."""

    def __init__(self, channels: list[int], sizes: list[tuple[int, int]], blocks: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList(nn.Sequential(*(BasicBlock(c) for _ in range(blocks)))
                                      for c in channels)
        n = len(channels)
        self.fuse_layers = nn.ModuleList(
            nn.ModuleList(fuse_path(channels, sizes, j, i) for j in range(n)) for i in range(n))

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        fused = []
        for paths in self.fuse_layers:
            y = paths[0](xs[0])
            for path, x in zip(paths[1:], xs[1:]):
                y = y + path(x)
            fused.append(torch.relu(y))
        return fused


def transition(in_channels: list[int], out_channels: list[int]) -> nn.ModuleList:
    """Between stages: adapt the existing branches (3×3 conv-BN-ReLU where the width changes,
    identity otherwise) and open the new branch with a 3×3 stride-2 conv-BN-ReLU from the lowest."""
    paths = [conv_bn(c_in, c_out, 3) if c_in != c_out else nn.Identity()
             for c_in, c_out in zip(in_channels, out_channels)]
    paths.append(nn.Sequential(conv_bn(in_channels[-1], out_channels[-1], 3, stride=2)))
    return nn.ModuleList(paths)


class HRNet(Backbone):
    """HRNet with the classification head and FaceX-Zoo's flatten+linear output layer:
    ``N×3×H×W`` aligned faces → ``N×D`` embeddings (not L2-normalised).

    Built from :class:`~facex_backbone_hrnet.plugin.HRNetConfig` (component ``hrnet_w18``).
    """

    def __init__(self, config: HRNetConfig | None = None) -> None:
        config = HRNetConfig() if config is None else config
        super().__init__(config)
        # spatial size of each of the four branches, highest resolution first
        sizes = [feature_map_size(self.input_size, k) for k in range(1, NUM_HALVINGS + 1)]
        widths = [config.width * 2 ** i for i in range(len(sizes))]

        self.conv1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = nn.Conv2d(64, 64, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.layer1 = bottleneck_layer(64, config.stage1_channels, config.stage1_blocks)

        previous = [config.stage1_channels * BOTTLENECK_EXPANSION]
        for stage, (modules, blocks) in enumerate(zip(config.modules, config.blocks), start=2):
            current = widths[:stage]
            self.add_module(f"transition{stage - 1}", transition(previous, current))
            self.add_module(f"stage{stage}", nn.Sequential(*(
                HighResolutionModule(current, sizes[:stage], blocks) for _ in range(modules))))
            previous = current

        head = [c * BOTTLENECK_EXPANSION for c in config.head_channels]
        self.incre_modules = nn.ModuleList(bottleneck_layer(c, planes, 1)
                                           for c, planes in zip(widths, config.head_channels))
        self.downsamp_modules = nn.ModuleList(conv_bn(c_in, c_out, 3, stride=2, bias=True)
                                              for c_in, c_out in zip(head[:-1], head[1:]))
        self.final_layer = conv_bn(head[-1], config.final_channels, 1, bias=True)
        out_h, out_w = sizes[-1]
        self.output_layer = FlattenEmbedding(config.final_channels, out_h, out_w, self.embedding_size,
                                             batchnorm_first=False, linear_bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """HRNet's initialisation: Kaiming-normal (fan-out, ReLU gain) convolutions, BatchNorm 1 / 0;
        the linear layer keeps PyTorch's default, as in FaceX-Zoo."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)) and m.affine:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.check_input(images)
        x = torch.relu(self.bn1(self.conv1(images)))
        x = torch.relu(self.bn2(self.conv2(x)))
        xs = [self.layer1(x)]
        for transition_layer, stage in ((self.transition1, self.stage2), (self.transition2, self.stage3),
                                        (self.transition3, self.stage4)):
            # existing branches pass through their own path; the new one grows from the lowest
            inputs = [path(branch) for path, branch in zip(transition_layer, xs)]
            inputs.append(transition_layer[-1](xs[-1]))
            xs = stage(inputs)
        y = self.incre_modules[0](xs[0])
        for incre, down, branch in zip(self.incre_modules[1:], self.downsamp_modules, xs[1:]):
            y = incre(branch) + down(y)
        return self.output_layer(self.final_layer(y))

    def stages(self) -> dict[str, nn.Module]:
        """Feature taps (:meth:`facex_core.Backbone.stages`), each one map: ``stem`` (bn2, before its ReLU,
        1/2 of the input), ``layer1`` (the stage-1 bottlenecks, 1/2), ``stage1`` … ``stage4`` (the four
        resolution streams after the last fusion, each through its head bottleneck: 1/2 … 1/16, as in the
        other CNN families; HRNet's own multi-branch ``stage2``–``stage4`` modules give lists of maps and
        are not taps) and ``final`` (final_layer, 1/16)."""
        taps: dict[str, nn.Module] = {"stem": self.bn2, "layer1": self.layer1}
        taps.update({f"stage{k}": incre for k, incre in enumerate(self.incre_modules, start=1)})
        taps["final"] = self.final_layer
        return taps
