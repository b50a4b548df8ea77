"""ResNet IR / IR-SE for faces (Deng et al. 2019) in the FaceX-Zoo / InsightFace_Pytorch layout.

The stem keeps the input resolution and each of the four stages starts with a stride-2 unit, so a
112×112 face ends as a 512×7×7 map; no global pooling: the whole map is flattened into a linear layer::

    input_layer   3x3 conv 3 -> 64 (no bias) + BN + PReLU                          64 x 112 x 112
    body          units[0] IR units, 64 ch   (first: stride 2, subsampling shortcut) 64 x 56 x 56
                  units[1] IR units, 128 ch  (first: stride 2, 1x1 conv shortcut)    128 x 28 x 28
                  units[2] IR units, 256 ch                                          256 x 14 x 14
                  units[3] IR units, 512 ch                                          512 x 7 x 7
    output_layer  BN2d -> Dropout -> Flatten -> Linear(512*7*7, D) -> BN1d           D

An IR unit (the "improved residual" unit of the ArcFace paper, Fig. 7) computes
``BN -> 3x3 conv -> PReLU -> 3x3 conv (stride s) -> BN [-> SE]`` on the residual branch and adds
the shortcut: the input itself, subsampled by ``s`` (a 1x1 max-pool) when the width is unchanged,
otherwise a strided 1x1 conv + BN. IR-SE appends squeeze-excitation (reduction 16, bias-free).

Module names follow FaceX-Zoo's ``backbone/ResNets.py`` except inside the shared layers taken from
the core (SE: ``reduce``/``expand`` for ``fc1``/``fc2``; output layer: ``bn``/``linear``/``bn_out`` for
``0``/``3``/``4``); :func:`convert_facexzoo_state_dict` renames a FaceX-Zoo checkpoint's keys.
"""
from __future__ import annotations

import re
from typing import Mapping

import torch
from torch import nn

from facex_core import Backbone, FlattenEmbedding, SqueezeExcite, rename_output_layer

from .plugin import ResNetConfig

#: Output channels of the four stages.
STAGE_CHANNELS = (64, 128, 256, 512)
#: Squeeze-excitation channel reduction of the IR-SE unit.
SE_REDUCTION = 16


class IRUnit(nn.Module):
    """Improved residual unit, optionally with squeeze-excitation (FaceX-Zoo ``bottleneck_IR[_SE]``)."""

    def __init__(self, in_channels: int, channels: int, stride: int, se: bool) -> None:
        super().__init__()
        if in_channels == channels:
            # same width: the shortcut is the input, subsampled when the unit strides
            self.shortcut_layer: nn.Module = nn.MaxPool2d(1, stride) if stride > 1 else nn.Identity()
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride, bias=False),
                                                nn.BatchNorm2d(channels))
        branch = [nn.BatchNorm2d(in_channels),
                  nn.Conv2d(in_channels, channels, 3, 1, 1, bias=False),
                  nn.PReLU(channels),
                  nn.Conv2d(channels, channels, 3, stride, 1, bias=False),
                  nn.BatchNorm2d(channels)]
        if se:
            branch.append(SqueezeExcite(channels, channels // SE_REDUCTION, bias=False))
        self.res_layer = nn.Sequential(*branch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class ResNet(Backbone):
    """ResNet IR / IR-SE: ``N×3×H×W`` aligned faces → ``N×D`` embeddings (not L2-normalised).

    Built from :class:`~facex_backbone_resnet.plugin.ResNetConfig` or one of its per-variant
    subclasses (components ``resnet{50,100,152}_{ir,irse}``).
    """

    def __init__(self, config: ResNetConfig | None = None) -> None:
        config = ResNetConfig() if config is None else config
        super().__init__(config)
        se = config.mode == "ir_se"

        self.input_layer = nn.Sequential(nn.Conv2d(3, STAGE_CHANNELS[0], 3, 1, 1, bias=False),
                                         nn.BatchNorm2d(STAGE_CHANNELS[0]),
                                         nn.PReLU(STAGE_CHANNELS[0]))
        units, in_channels = [], STAGE_CHANNELS[0]
        for channels, count in zip(STAGE_CHANNELS, config.stage_units):
            for i in range(count):
                units.append(IRUnit(in_channels, channels, stride=2 if i == 0 else 1, se=se))
                in_channels = channels
        self.body = nn.Sequential(*units)
        out_h, out_w = config.map_size
        self.output_layer = FlattenEmbedding(in_channels, out_h, out_w, self.embedding_size,
                                             dropout=config.dropout)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.check_input(images)
        return self.output_layer(self.body(self.input_layer(images)))

    def stages(self) -> dict[str, nn.Module]:
        """Feature taps (:meth:`facex_core.Backbone.stages`): ``stem`` (input_layer, full resolution) and
        ``stage1`` … ``stage4``, the last IR unit of each width (1/2 … 1/16 of the input: 56, 28, 14, 7
        at 112)."""
        taps: dict[str, nn.Module] = {"stem": self.input_layer}
        end = 0
        for index, count in enumerate(self.config.stage_units, start=1):
            end += count
            if count:
                taps[f"stage{index}"] = self.body[end - 1]
        return taps


#: FaceX-Zoo key pattern -> FaceX key inside the core's squeeze-excitation (the output layer's keys
#: are mapped by :func:`facex_core.rename_output_layer`).
_SE_RENAMES = (
    (re.compile(r"^(body\.\d+\.res_layer\.5\.)fc1\."), r"\1reduce."),
    (re.compile(r"^(body\.\d+\.res_layer\.5\.)fc2\."), r"\1expand."),
)


def convert_facexzoo_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the keys of a FaceX-Zoo ``Resnet`` state dict so that :class:`ResNet` loads it strictly.

    Accepts the backbone's own ``state_dict()`` or a whole FaceX-Zoo training checkpoint's
    ``state_dict`` (keys ``backbone.*`` and ``head.*``; only the backbone part is kept). Tensors are
    not copied.
    """
    prefix = "backbone."
    if any(key.startswith(prefix) for key in state_dict):
        state_dict = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    converted = {}
    for key, value in state_dict.items():
        for pattern, replacement in _SE_RENAMES:
            key = pattern.sub(replacement, key)
        converted[key] = value
    return rename_output_layer(converted, "output_layer", "output_layer")
