"""InsightFace MBF (``get_model('mbf')`` / ``'mbf_large'``, ``backbones/mobilefacenet.py``) → FaceX ``mbf``.

arcface_torch keeps the trunk in a ModuleList ``layers`` and wraps every conv-BN(-PReLU) in a
Sequential ``layers``; FaceX uses FaceX-Zoo's MobileFaceNet names:

==============================  ===============================
arcface_torch                   FaceX
==============================  ===============================
``layers.0``                    ``conv1``
``layers.1``                    ``conv2_dw`` (a block, or ``model.i`` residual bottlenecks)
``layers.2`` .. ``layers.7``    ``conv_23``, ``conv_3``, ``conv_34``, ``conv_4``, ``conv_45``, ``conv_5``
``conv_sep``                    ``conv_6_sep``
``features.layers.0``           ``conv_6_dw`` (GDConv)
``features.layers.2`` / ``.3``  ``linear`` / ``bn``
==============================  ===============================

Inside: a block's ``layers.0/1/2`` are ``conv``/``bn``/``prelu``; a bottleneck's ``layers.0/1/2`` are
``conv``/``conv_dw``/``project``; a residual stage's ``layers.i`` is ``model.i``.
"""
from __future__ import annotations

import re
from typing import Any

from .base import InsightFaceImporter

#: FaceX module of each entry of arcface_torch's ``layers`` ModuleList, and its kind.
TRUNK = ("conv1", "conv2_dw", "conv_23", "conv_3", "conv_34", "conv_4", "conv_45", "conv_5")
_BLOCK_PARTS = ("conv", "bn", "prelu")
_BOTTLENECK_PARTS = ("conv", "conv_dw", "project")


def _block(rest: str) -> str | None:
    """``layers.<i>.<tensor>`` of a ConvBlock/LinearBlock → ``conv|bn|prelu.<tensor>``."""
    m = re.fullmatch(r"layers\.(\d)\.(.+)", rest)
    return f"{_BLOCK_PARTS[int(m.group(1))]}.{m.group(2)}" if m and int(m.group(1)) < 3 else None


def _bottleneck(rest: str) -> str | None:
    """``layers.<j>.layers.<i>.<tensor>`` of a DepthWise bottleneck."""
    m = re.fullmatch(r"layers\.(\d)\.(.+)", rest)
    if not m or int(m.group(1)) >= 3:
        return None
    inner = _block(m.group(2))
    return f"{_BOTTLENECK_PARTS[int(m.group(1))]}.{inner}" if inner else None


def _residual(rest: str) -> str | None:
    """``layers.<k>.layers...`` of a Residual stage → ``model.<k>....``."""
    m = re.fullmatch(r"layers\.(\d+)\.(.+)", rest)
    inner = _bottleneck(m.group(2)) if m else None
    return f"model.{m.group(1)}.{inner}" if inner else None


class MBFImporter(InsightFaceImporter):

    def backbone_table(self) -> dict[str, Any]:
        c = self.config
        return {"name": "mbf", "width": c.scale, "blocks": list(c.blocks), "embedding_size": c.num_features,
                "input_size": [112, 112]}

    def rename(self, key: str) -> str | None:
        m = re.fullmatch(r"layers\.(\d+)\.(.+)", key)
        if m:
            index, rest = int(m.group(1)), m.group(2)
            if index >= len(TRUNK):
                return key
            if index == 0 or (index == 1 and self.config.blocks[0] == 1):
                inner = _block(rest)
            elif index in (2, 4, 6):
                inner = _bottleneck(rest)
            else:
                inner = _residual(rest)
            return f"{TRUNK[index]}.{inner}" if inner else key
        if key.startswith("conv_sep."):
            inner = _block(key[len("conv_sep."):])
            return f"conv_6_sep.{inner}" if inner else key
        m = re.fullmatch(r"features\.layers\.(\d)\.(.+)", key)
        if m:
            index, rest = int(m.group(1)), m.group(2)
            if index == 0:
                inner = _block(rest)
                return f"conv_6_dw.{inner}" if inner and not inner.startswith("prelu") else key
            return {2: f"linear.{rest}", 3: f"bn.{rest}"}.get(index, key)
        return key
