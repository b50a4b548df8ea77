"""InsightFace IResNet (``get_model('r18' .. 'r200')``) → FaceX ``iresnet*``: the same key names."""
from __future__ import annotations

from typing import Any

from .base import InsightFaceImporter
from .configs import IRESNET_LAYERS


class IResNetImporter(InsightFaceImporter):

    def backbone_table(self) -> dict[str, Any]:
        c = self.config
        depth = next((name[1:] for name, layers in IRESNET_LAYERS.items() if layers == tuple(c.layers)), "50")
        return {"name": f"iresnet{depth}", "layers": list(c.layers), "embedding_size": c.num_features,
                "dropout": c.dropout, "input_size": [112, 112], "fp16": False}
