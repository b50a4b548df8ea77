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
FaceX-Zoo's assumed size and the real one differ in parity its padding is not TensorFlow's, which
the FaceX network uses. :meth:`EfficientNetImporter.check` finds those layers and refuses the
import (its embeddings would differ); with FaceX-Zoo's default ``image_size: 112`` that is the first
block of the sixth stage (assumed 7, real 14: padding (2, 2) instead of (1, 2)).
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


def padding_mismatches(image_size: int, real: int, depth: float) -> list[tuple[int, int, tuple, tuple]]:
    """``(block index, kernel, FaceX-Zoo padding, TensorFlow padding)`` of every depthwise convolution
    whose FaceX-Zoo padding (computed for ``image_size``, halved after the stem) differs from the one
    of its real input size (``real`` at the input)."""
    assumed = math.ceil(image_size / 2)  # FaceX-Zoo halves its bookkeeping after the (stride-1) stem
    out, index = [], 0
    for repeats, kernel, stride in STAGES:
        for i in range(math.ceil(repeats * depth)):
            s = stride if i == 0 else 1
            zoo, tf = same_padding(assumed, kernel, s), same_padding(real, kernel, s)
            if zoo != tf:
                out.append((index, kernel, zoo, tf))
            assumed, real, index = math.ceil(assumed / s), math.ceil(real / s), index + 1
    return out


class EfficientNetImporter(FaceXZooImporter):
    zoo_type = "EfficientNet"

    def check(self) -> None:
        c = self.config
        bad = padding_mismatches(c.image_size, self.input_size()[0], c.depth)
        if bad:
            index, kernel, zoo, tf = bad[0]
            raise ConfigError(
                f"backbone.image_size={c.image_size}: FaceX-Zoo's EfficientNet pads the {kernel}x{kernel} stride-2 "
                f"depthwise conv of block {index} by {zoo} (its 'same' padding computed for a map half the real "
                f"size), facex-backbone-efficientnet by {tf} (TensorFlow's, for the real map); the imported "
                f"network would not reproduce FaceX-Zoo's embeddings ({len(bad)} such layer(s)). Importable once "
                "facex-backbone-efficientnet can pad like FaceX-Zoo; models trained with an image_size whose "
                "halves keep the real sizes' parity (e.g. 224) import exactly")

    def backbone_table(self) -> dict[str, Any]:
        c = self.config
        return {"name": _VARIANTS.get(c.depth, "efficientnet_b0"), "width": c.width, "depth": c.depth,
                "drop_ratio": c.drop_ratio, "drop_connect": 0.2, "embedding_size": c.feat_dim,
                "input_size": self.input_size()}

    def rename(self, key: str) -> str | None:
        return _RENAME(key)
