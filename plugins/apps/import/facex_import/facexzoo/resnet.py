"""FaceX-Zoo ``ResNet`` (IR / IR-SE, ``backbone/ResNets.py``) → FaceX ``resnet{50,100,152}_{ir,irse}``.

The names are FaceX-Zoo's except in the core's shared layers: the SE module's ``fc1``/``fc2`` are
``reduce``/``expand`` and the output layer's ``0``/``3``/``4`` are ``bn``/``linear``/``bn_out``.
"""
from __future__ import annotations

from typing import Any

from ..mapping import renamer
from .base import FaceXZooImporter, output_layer

_RENAME = renamer(
    (r"(body\.\d+\.res_layer\.5\.)fc1\.", r"\1reduce."),
    (r"(body\.\d+\.res_layer\.5\.)fc2\.", r"\1expand."),
    *output_layer((0, "bn"), (3, "linear"), (4, "bn_out")),
)


class ResNetImporter(FaceXZooImporter):
    zoo_type = "ResNet"

    def backbone_table(self) -> dict[str, Any]:
        c = self.config
        mode = "irse" if c.net_mode == "ir_se" else "ir"
        return {"name": f"resnet{c.depth}_{mode}", "depth": c.depth, "mode": c.net_mode, "dropout": c.drop_ratio,
                "embedding_size": c.feat_dim, "input_size": self.input_size()}

    def rename(self, key: str) -> str | None:
        return _RENAME(key)
