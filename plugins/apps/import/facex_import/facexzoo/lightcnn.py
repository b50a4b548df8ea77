"""FaceX-Zoo ``LightCNN`` (``backbone/LightCNN.py``, depth 29 = ``network_29layers_v2``) → FaceX
``lightcnn29``: names are FaceX-Zoo's except the output layer's ``0``/``3``/``4`` (``bn``/``linear``/``bn_out``)."""
from __future__ import annotations

from typing import Any

from ..mapping import renamer
from .base import FaceXZooImporter, output_layer

_RENAME = renamer(*output_layer((0, "bn"), (3, "linear"), (4, "bn_out")))


class LightCNNImporter(FaceXZooImporter):
    zoo_type = "LightCNN"

    def backbone_table(self) -> dict[str, Any]:
        c = self.config
        return {"name": "lightcnn29", "dropout": c.dropout_ratio, "embedding_size": c.feat_dim,
                "input_size": self.input_size()}

    def rename(self, key: str) -> str | None:
        return _RENAME(key)
