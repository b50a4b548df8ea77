"""FaceX-Zoo ``EfficientNet`` (``backbone/EfficientNets.py``, after lukemelas/EfficientNet-PyTorch) →
FaceX ``efficientnet_b*``.

Renames: ``_conv_stem``/``_bn0`` → ``stem.conv/bn``; in ``_blocks.N``: ``_expand_conv``/``_bn0`` →
``expand.conv/bn``, ``_depthwise_conv``/``_bn1`` → ``depthwise.conv/bn``, ``_se_reduce``/``_se_expand`` →
``se.reduce/expand``, ``_project_conv``/``_bn2`` → ``project.conv/bn``; ``_conv_head``/``_bn1`` →
``head.conv/bn``; output layer ``0/3/4`` → ``bn/linear/bn_out``; the unused ImageNet classifier
``_fc`` is dropped.

Padding: FaceX-Zoo computes its static TensorFlow "same" paddings for ``image_size`` but, having
removed the stem's stride, for a map half the real size from the first block on. A stride-2
depthwise convolution's padding depends on the parity of the size it is computed for, so wherever
FaceX-Zoo's assumed size and the real one differ in parity its padding is not TensorFlow's: with the
default ``image_size: 112``, the first block of the sixth stage (assumed 7, real 14: padding (2, 2)
instead of (1, 2)); on the 60-row upper-half face also the fourth stage's (assumed 14, real 15), which
then outputs 7 rows, not 8. When any layer differs the FaceX backbone gets ``facexzoo_image_size =
image_size`` and pads exactly like FaceX-Zoo; otherwise (e.g. ``image_size: 224`` on 112×112 crops)
it stays a plain TensorFlow-padded network. A configuration whose last map is not ``out_h`` ×
``out_w`` under FaceX-Zoo's arithmetic cannot run in FaceX-Zoo and is refused.
"""
from __future__ import annotations

import math
from typing import Any

from facex_core import ConfigError

from ..mapping import renamer
from .base import FaceXZooImporter, output_layer

#: EfficientNet-B0's stages: (repeats, kernel, stride).
STAGES = ((1, 3, 1), (2, 3, 2), (2, 5, 2), (3, 3, 2), (3, 5, 1), (4, 5, 2), (1, 3, 1))
_VARIANTS = {1.0: "efficientnet_b0", 1.1: "efficientnet_b1"}

#: FaceX-Zoo's MBConv member names -> FaceX's.
_BLOCK_PARTS = {"_expand_conv": "expand.conv", "_bn0": "expand.bn", "_depthwise_conv": "depthwise.conv",
                "_bn1": "depthwise.bn", "_se_reduce": "se.reduce", "_se_expand": "se.expand",
                "_project_conv": "project.conv", "_bn2": "project.bn"}

_RENAME = renamer(
    (r"_conv_stem\.", "stem.conv."), (r"_bn0\.", "stem.bn."),
    (r"_conv_head\.", "head.conv."), (r"_bn1\.", "head.bn."),
    (r"_fc\.", None),
    *((rf"_blocks\.(\d+)\.{zoo}\.", rf"blocks.\1.{facex}.") for zoo, facex in _BLOCK_PARTS.items()),
    *output_layer((0, "bn"), (3, "linear"), (4, "bn_out")),
)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "same" padding (before, after) of one axis of ``size``."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def facexzoo_layers(image_size: int, real: int, depth: float) -> list[tuple[int, int, int, tuple, tuple, int]]:
    """FaceX-Zoo's EfficientNet along one axis of ``real`` input pixels: ``(block index, kernel,
    stride, FaceX-Zoo padding, TensorFlow padding of the real input, real output size)`` of every
    depthwise convolution. FaceX-Zoo pads for the size it assumes (``image_size``, halved after the
    stride-1 stem, then by each stride), the real size follows the convolution arithmetic."""
    assumed = math.ceil(image_size / 2)  # FaceX-Zoo halves its bookkeeping after the (stride-1) stem
    out, index = [], 0
    for repeats, kernel, stride in STAGES:
        for i in range(math.ceil(repeats * depth)):
            s = stride if i == 0 else 1
            zoo, tf = same_padding(assumed, kernel, s), same_padding(real, kernel, s)
            real = (real + sum(zoo) - kernel) // s + 1
            out.append((index, kernel, s, zoo, tf, real))
            assumed, index = math.ceil(assumed / s), index + 1
    return out


def padding_mismatches(image_size: int, input_size: list[int], depth: float) -> list[tuple[int, int, tuple, tuple]]:
    """``(block index, kernel, FaceX-Zoo padding, TensorFlow padding)`` of every depthwise convolution
    whose FaceX-Zoo padding differs from TensorFlow's for its real input, on either axis."""
    found: dict[int, tuple[int, int, tuple, tuple]] = {}
    for real in input_size:
        for index, kernel, _, zoo, tf, _ in facexzoo_layers(image_size, real, depth):
            if zoo != tf:
                found.setdefault(index, (index, kernel, zoo, tf))
    return [found[k] for k in sorted(found)]


class EfficientNetImporter(FaceXZooImporter):
    zoo_type = "EfficientNet"

    def check(self) -> None:
        c = self.config
        size = self.input_size()
        last = tuple(facexzoo_layers(c.image_size, n, c.depth)[-1][-1] for n in size)
        if last != (c.out_h, c.out_w):
            raise ConfigError(
                f"backbone.image_size={c.image_size} with out_h={c.out_h}, out_w={c.out_w}: FaceX-Zoo's EfficientNet "
                f"pads a {size[0]}x{size[1]} crop to a last map of {last[0]}x{last[1]}, not {c.out_h}x{c.out_w}, so "
                "its output layer cannot take it (FaceX-Zoo cannot run this configuration)")

    def backbone_table(self) -> dict[str, Any]:
        c = self.config
        table = {"name": _VARIANTS.get(c.depth, "efficientnet_b0"), "width": c.width, "depth": c.depth,
                 "drop_ratio": c.drop_ratio, "drop_connect": 0.2, "embedding_size": c.feat_dim,
                 "input_size": self.input_size()}
        if padding_mismatches(c.image_size, self.input_size(), c.depth):
            # pad like FaceX-Zoo; left out where its paddings are TensorFlow's (a plain network)
            table["facexzoo_image_size"] = c.image_size
        return table

    def rename(self, key: str) -> str | None:
        return _RENAME(key)
