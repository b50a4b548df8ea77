"""RetinaFace with a MobileNet-0.25 trunk: the network of FaceX-Zoo's SDK face detector.

Written from the module tree FaceX-Zoo's pickled detector holds (see the shared reference's
``retinaface_mobilenet0.25.modules.txt``): every module path below equals the path in that pickle, so
its parameters and BatchNorm buffers load with ``strict=True`` under their original names
(``body.stage1.0.0.weight``, ``fpn.output1.1.running_mean``, ``ssh1.conv7x7_3.0.weight``,
``ClassHead.0.conv1x1.bias`` ...).

Layout (FaceX-Zoo face_sdk ``models/network_def/retinaface_def.py``, after biubug6/Pytorch_Retinaface):

* ``body``: MobileNetV1 ×0.25 without its classifier; ``stage1`` (stride 8, 64 channels),
  ``stage2`` (stride 16, 128) and ``stage3`` (stride 32, 256) feed the FPN. Convolutions have no bias;
  every conv is followed by BatchNorm and LeakyReLU(0.1).
* ``fpn``: 1×1 lateral convs to 64 channels, top-down nearest-neighbour upsampling to the finer
  map's size, sum, 3×3 ``merge`` conv (all conv-BN-LeakyReLU(0.1)).
* ``ssh1..3``: SSH context module per level: a 3×3 branch (32 channels) and two stacked 5×5 / 7×7
  receptive-field branches (16 each) built from 3×3 convs; the last conv of each branch has no
  activation; the concatenation goes through ReLU.
* heads per level, 2 anchors per cell: ``ClassHead`` (2 logits per anchor, softmax at inference),
  ``BboxHead`` (4 offsets), ``LandmarkHead`` (10 offsets: 5 points), 1×1 convs with bias.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: Negative slope of every LeakyReLU in the detector (out_channels ≤ 64 in FaceX-Zoo's definition).
SLOPE = 0.1
#: Anchors per feature-map cell (one per min_size of the level).
ANCHORS = 2


def conv_bn(cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1,
            act: bool = True) -> nn.Sequential:
    """Conv (no bias, 'same' padding) → BatchNorm → optional LeakyReLU(0.1), indexed 0/1/2."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.LeakyReLU(SLOPE, inplace=True))
    return nn.Sequential(*layers)


def depthwise_separable(cin: int, cout: int, stride: int) -> nn.Sequential:
    """MobileNetV1 block as one 6-module Sequential: dw3×3-BN-act (0..2), pw1×1-BN-act (3..5)."""
    dw = conv_bn(cin, cin, 3, stride, groups=cin)
    pw = conv_bn(cin, cout, 1, 1)
    return nn.Sequential(*dw, *pw)


class MobileNetV1Trunk(nn.Module):
    """MobileNetV1 with width 0.25 (first conv 3→8, stride 2), cut after stage3 (no pooling/fc)."""

    def __init__(self) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(conv_bn(3, 8, 3, 2),
                                    depthwise_separable(8, 16, 1), depthwise_separable(16, 32, 2),
                                    depthwise_separable(32, 32, 1), depthwise_separable(32, 64, 2),
                                    depthwise_separable(64, 64, 1))
        self.stage2 = nn.Sequential(depthwise_separable(64, 128, 2),
                                    *[depthwise_separable(128, 128, 1) for _ in range(5)])
        self.stage3 = nn.Sequential(depthwise_separable(128, 256, 2), depthwise_separable(256, 256, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        c1 = self.stage1(x)
        c2 = self.stage2(c1)
        c3 = self.stage3(c2)
        return [c1, c2, c3]


class FPN(nn.Module):
    """Three-level feature pyramid, 64 channels, nearest-neighbour top-down path."""

    def __init__(self, in_channels: tuple[int, int, int] = (64, 128, 256), out_channels: int = 64) -> None:
        super().__init__()
        self.output1 = conv_bn(in_channels[0], out_channels, 1)
        self.output2 = conv_bn(in_channels[1], out_channels, 1)
        self.output3 = conv_bn(in_channels[2], out_channels, 1)
        self.merge1 = conv_bn(out_channels, out_channels, 3)
        self.merge2 = conv_bn(out_channels, out_channels, 3)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        p1 = self.output1(feats[0])
        p2 = self.output2(feats[1])
        p3 = self.output3(feats[2])
        p2 = self.merge2(p2 + F.interpolate(p3, size=p2.shape[-2:], mode="nearest"))
        p1 = self.merge1(p1 + F.interpolate(p2, size=p1.shape[-2:], mode="nearest"))
        return [p1, p2, p3]


class SSH(nn.Module):
    """Single Stage Headless context module: concat(3×3, "5×5", "7×7") branches, then ReLU."""

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        half, quarter = channels // 2, channels // 4
        self.conv3X3 = conv_bn(channels, half, act=False)
        self.conv5X5_1 = conv_bn(channels, quarter)
        self.conv5X5_2 = conv_bn(quarter, quarter, act=False)
        self.conv7X7_2 = conv_bn(quarter, quarter)
        self.conv7x7_3 = conv_bn(quarter, quarter, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shared = self.conv5X5_1(x)
        branch5 = self.conv5X5_2(shared)
        branch7 = self.conv7x7_3(self.conv7X7_2(shared))
        return F.relu(torch.cat([self.conv3X3(x), branch5, branch7], dim=1))


class _PredictionHead(nn.Module):
    """1×1 conv predicting ``per_anchor`` values per anchor of the level, flattened to N×(H·W·A)×per_anchor."""

    def __init__(self, channels: int, per_anchor: int) -> None:
        super().__init__()
        self.per_anchor = per_anchor
        self.conv1x1 = nn.Conv2d(channels, ANCHORS * per_anchor, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1x1(x).permute(0, 2, 3, 1)  # cell-major, then anchor: the prior order
        return out.reshape(out.shape[0], -1, self.per_anchor)


class RetinaFaceMNet025(nn.Module):
    """The SDK detector network; ``forward`` returns (box offsets N×P×4, class probabilities N×P×2,
    landmark offsets N×P×10) for the P priors of the input size (see :func:`priors`)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = MobileNetV1Trunk()
        self.fpn = FPN()
        self.ssh1 = SSH()
        self.ssh2 = SSH()
        self.ssh3 = SSH()
        self.ClassHead = nn.ModuleList([_PredictionHead(64, 2) for _ in range(3)])
        self.BboxHead = nn.ModuleList([_PredictionHead(64, 4) for _ in range(3)])
        self.LandmarkHead = nn.ModuleList([_PredictionHead(64, 10) for _ in range(3)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pyramid = self.fpn(self.body(x))
        feats = [self.ssh1(pyramid[0]), self.ssh2(pyramid[1]), self.ssh3(pyramid[2])]
        loc = torch.cat([h(f) for h, f in zip(self.BboxHead, feats)], dim=1)
        conf = torch.cat([h(f) for h, f in zip(self.ClassHead, feats)], dim=1)
        landms = torch.cat([h(f) for h, f in zip(self.LandmarkHead, feats)], dim=1)
        return loc, F.softmax(conf, dim=-1), landms
