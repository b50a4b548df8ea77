"""FaceX-Zoo ``MobileFaceNet`` → FaceX ``mobilefacenet``: the same module names, nothing to rename."""
from __future__ import annotations

from typing import Any

from .base import FaceXZooImporter


class MobileFaceNetImporter(FaceXZooImporter):
    zoo_type = "MobileFaceNet"

    def backbone_table(self) -> dict[str, Any]:
        c = self.config
        return {"name": "mobilefacenet", "embedding_size": c.feat_dim, "input_size": self.input_size()}
