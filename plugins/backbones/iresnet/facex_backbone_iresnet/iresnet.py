"""IResNet (InsightFace ``arcface_torch``): the ArcFace improved residual network, checkpoint-compatible.

The stem keeps the input resolution; each of the four stages starts with a stride-2 block, so a
112×112 face ends as a 512×7×7 map, which is flattened whole (no pooling) into ``fc``::

    conv1, bn1, prelu   3x3 conv 3 -> 64 (no bias) + BN + PReLU                   64 x 112 x 112
    layer1 .. layer4    layers[i] IBasicBlocks, 64/128/256/512 channels; block 0
                        has stride 2 and a 1x1 conv + BN ``downsample`` shortcut   512 x 7 x 7
    bn2                 BatchNorm2d(512)
    dropout             on the flattened map (p = 0 by default)
    fc                  Linear(512 * 7 * 7, D) with bias
    features            BatchNorm1d(D) whose weight is fixed to 1 (not trained): a learnt shift only

An IBasicBlock is ``bn1 -> conv1 (3x3) -> bn2 -> prelu -> conv2 (3x3, stride s) -> bn3`` plus the
shortcut (the input, or ``downsample(input)`` in a stage's first block). Compared with the FaceX-Zoo
IR unit it has one more BatchNorm (``bn2``, before the PReLU), and stage 1's first block has a 1x1
conv shortcut where FaceX-Zoo subsamples. Every BatchNorm uses eps 1e-5, as InsightFace's.

Attribute names, hence ``state_dict`` keys and shapes, are exactly InsightFace's, so a released
``backbone.pth`` (e.g. ``ms1mv3_arcface_r50_fp16``) loads with ``load_state_dict(strict=True)``;
:func:`convert_insightface_input` adapts its first layer to FaceX's input convention.
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from facex_core import Backbone

from .plugin import IResNetConfig

#: Output channels of the four stages.
STAGE_CHANNELS = (64, 128, 256, 512)
#: BatchNorm epsilon of every BN layer in InsightFace's IResNet (PyTorch's default).
BN_EPS = 1e-5
#: Standard deviation of InsightFace's normal initialisation of every convolution.
CONV_INIT_STD = 0.1
#: Pixel scale of InsightFace's input, ``(x - 127.5) / 127.5``; FaceX's is ``(x - 127.5) / 128``.
INSIGHTFACE_PIXEL_SCALE = 127.5
FACEX_PIXEL_SCALE = 128.0


class IBasicBlock(nn.Module):
    """Pre-activation residual block with PReLU (InsightFace ``IBasicBlock``, ArcFace paper Fig. 7)."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels, eps=BN_EPS)
        self.conv1 = nn.Conv2d(in_channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels, eps=BN_EPS)
        self.prelu = nn.PReLU(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(channels, eps=BN_EPS)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (x if self.downsample is None else self.downsample(x))


def _stage(in_channels: int, channels: int, blocks: int) -> nn.Sequential:
    """One stage: a stride-2 block with a 1x1 conv + BN shortcut, then ``blocks - 1`` plain blocks."""
    downsample = nn.Sequential(nn.Conv2d(in_channels, channels, 1, 2, bias=False),
                               nn.BatchNorm2d(channels, eps=BN_EPS))
    return nn.Sequential(IBasicBlock(in_channels, channels, 2, downsample),
                         *(IBasicBlock(channels, channels) for _ in range(blocks - 1)))


class IResNet(Backbone):
    """IResNet: ``N×3×H×W`` aligned faces → ``N×D`` embeddings (not L2-normalised).

    Built from :class:`~facex_backbone_iresnet.plugin.IResNetConfig` or a per-variant subclass
    (components ``iresnet18`` … ``iresnet200``).
    """

    def __init__(self, config: IResNetConfig | None = None) -> None:
        config = IResNetConfig() if config is None else config
        super().__init__(config)
        self.fp16 = bool(config.fp16)
        out_h, out_w = config.map_size

        self.conv1 = nn.Conv2d(3, STAGE_CHANNELS[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(STAGE_CHANNELS[0], eps=BN_EPS)
        self.prelu = nn.PReLU(STAGE_CHANNELS[0])
        c1, c2, c3, c4 = STAGE_CHANNELS
        self.layer1 = _stage(c1, c1, config.layers[0])
        self.layer2 = _stage(c1, c2, config.layers[1])
        self.layer3 = _stage(c2, c3, config.layers[2])
        self.layer4 = _stage(c3, c4, config.layers[3])
        self.bn2 = nn.BatchNorm2d(c4, eps=BN_EPS)
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(c4 * out_h * out_w, self.embedding_size)
        self.features = nn.BatchNorm1d(self.embedding_size, eps=BN_EPS)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """InsightFace's initialisation: convolutions N(0, 0.1²), BatchNorm weight 1 / bias 0, and
        the weight of ``features`` fixed at 1 with ``requires_grad = False``; ``fc`` and PReLU keep
        PyTorch's defaults (uniform ±1/√fan_in, slope 0.25)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, CONV_INIT_STD)
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # as in InsightFace: of the final BN's affine part only the shift is learnt
        self.features.weight.requires_grad_(False)

    def _trunk(self, images: torch.Tensor) -> torch.Tensor:
        x = self.prelu(self.bn1(self.conv1(images)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.dropout(torch.flatten(self.bn2(x), 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.check_input(images)
        if self.fp16:
            device = images.device.type
            half = torch.bfloat16 if device == "cpu" else torch.float16
            with torch.autocast(device, dtype=half):
                x = self._trunk(images)
            # the large fc and the final BN run in float32, as in InsightFace
            x = x.float()
        else:
            x = self._trunk(images)
        return self.features(self.fc(x))

    def stages(self) -> dict[str, nn.Module]:
        """Feature taps (:meth:`facex_core.Backbone.stages`): ``stem`` (conv1-bn1-prelu, full resolution)
        and ``stage1`` … ``stage4`` (layer1 … layer4: 1/2 … 1/16 of the input, 56 … 7 at 112)."""
        return {"stem": self.prelu, "stage1": self.layer1, "stage2": self.layer2, "stage3": self.layer3,
                "stage4": self.layer4}


def convert_insightface_input(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Fold InsightFace's input convention into ``conv1`` so that a released checkpoint takes FaceX's.

    InsightFace trains on RGB images scaled as ``(x - 127.5) / 127.5``; FaceX feeds BGR scaled as
    ``(x - 127.5) / 128``. ``conv1`` is the first layer and has no bias (its zero padding is
    unaffected by scaling), so reversing its input channels and multiplying it by 128 / 127.5 makes
    the network give, on FaceX input, exactly the embeddings the original gives on InsightFace input.
    Keys and shapes are unchanged; the other tensors are not copied.
    """
    converted = dict(state_dict)
    weight = converted["conv1.weight"]
    converted["conv1.weight"] = weight.flip(1) * (FACEX_PIXEL_SCALE / INSIGHTFACE_PIXEL_SCALE)
    return converted
