"""FaceX-Zoo ``ResNeSt`` (``backbone/resnest``) → FaceX ``resnest50``.

Names are FaceX-Zoo's except the output layer's ``0``/``3``/``4`` (``bn``/``linear``/``bn_out``).
FaceX-Zoo L2-normalises this network's output and FaceX does not: the direction, hence every cosine,
is the same.
"""
from __future__ import annotations

from typing import Any

from ..mapping import renamer
from .base import FaceXZooImporter, output_layer

_RENAME = renamer(*output_layer((0, "bn"), (3, "linear"), (4, "bn_out")))


class ResNeStImporter(FaceXZooImporter):
    zoo_type = "ResNeSt"

    def backbone_table(self) -> dict[str, Any]:
        c = self.config
        return {"name": f"resnest{c.depth}", "depth": c.depth, "dropout": c.drop_ratio, "embedding_size": c.feat_dim,
                "input_size": self.input_size()}

    def rename(self, key: str) -> str | None:
        return _RENAME(key)
