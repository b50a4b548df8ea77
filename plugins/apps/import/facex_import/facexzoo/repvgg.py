"""FaceX-Zoo ``RepVGG`` (``backbone/RepVGG.py``) → FaceX ``repvgg_a0`` / ``repvgg_b0`` / ``repvgg_b1``.

Names are FaceX-Zoo's (``rbr_dense``, ``rbr_1x1``, ``rbr_identity``; ``rbr_reparam`` in the fused
deploy form, which is imported as ``deploy = true``) except the output layer's ``0``/``2``/``3``
(``bn``/``linear``/``bn_out``).
"""
from __future__ import annotations

from typing import Any, Mapping

import torch

from ..mapping import renamer
from .base import FaceXZooImporter, output_layer

_RENAME = renamer(*output_layer((0, "bn"), (2, "linear"), (3, "bn_out")))
#: FaceX components of RepVGG presets: (blocks, widths) -> name.
_PRESETS = {((2, 4, 14, 1), (0.75, 0.75, 0.75, 2.5)): "repvgg_a0",
            ((4, 6, 16, 1), (1.0, 1.0, 1.0, 2.5)): "repvgg_b0",
            ((4, 6, 16, 1), (2.0, 2.0, 2.0, 4.0)): "repvgg_b1"}


class RepVGGImporter(FaceXZooImporter):
    zoo_type = "RepVGG"

    def backbone_table(self) -> dict[str, Any]:
        c = self.config
        blocks = (c.block_stage1, c.block_stage2, c.block_stage3, c.block_stage4)
        width = (c.width_stage1, c.width_stage2, c.width_stage3, c.width_stage4)
        return {"name": _PRESETS.get((blocks, width), "repvgg_b1"), "blocks": list(blocks), "width": list(width),
                "dropout": 0.0, "embedding_size": c.feat_dim, "input_size": self.input_size()}

    def adapt(self, table: dict[str, Any], state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
        fused = any(".rbr_reparam." in key for key in state)
        return {**table, "deploy": fused} if fused else table

    def rename(self, key: str) -> str | None:
        return _RENAME(key)
