"""FaceX-Zoo ``AttentionNet`` (``backbone/AttentionNets.py``) → FaceX ``attention56`` / ``attention92``.

Names are FaceX-Zoo's; FaceX-Zoo builds a shortcut convolution ``conv4`` in every residual block but
uses it only where the block changes channels or stride, so the unused ones are dropped; the output
layer's ``1``/``2`` are ``linear``/``bn_out``.
"""
from __future__ import annotations

import re
from typing import Any

from ..mapping import renamer
from .base import FaceXZooImporter, output_layer

_RENAME = renamer(*output_layer((1, "linear"), (2, "bn_out")))
_PRESETS = {(1, 1, 1): "attention56", (1, 2, 3): "attention92"}


class AttentionNetImporter(FaceXZooImporter):
    zoo_type = "AttentionNet"
    unused_in_source = (re.compile(r"\.conv4\.weight$"),)

    def backbone_table(self) -> dict[str, Any]:
        c = self.config
        modules = (c.stage1_modules, c.stage2_modules, c.stage3_modules)
        return {"name": _PRESETS.get(modules, "attention56"), "modules": list(modules),
                "embedding_size": c.feat_dim, "input_size": self.input_size()}

    def rename(self, key: str) -> str | None:
        return _RENAME(key)
