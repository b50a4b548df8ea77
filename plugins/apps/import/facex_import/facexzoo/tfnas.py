"""FaceX-Zoo ``TF-NAS`` (``backbone/TF_NAS.py``, TF-NAS-A) → FaceX ``tfnas_a``.

Names are FaceX-Zoo's except the squeeze-excitation's ``conv_reduce``/``conv_expand``
(``reduce``/``expand``) and the output layer's ``2``/``3`` (``linear``/``bn_out``).
"""
from __future__ import annotations

from typing import Any

from ..mapping import renamer
from .base import FaceXZooImporter, output_layer

_RENAME = renamer(
    (r"(.*\.squeeze_excite\.)conv_reduce\.", r"\1reduce."),
    (r"(.*\.squeeze_excite\.)conv_expand\.", r"\1expand."),
    *output_layer((2, "linear"), (3, "bn_out")),
)


class TFNASImporter(FaceXZooImporter):
    zoo_type = "TF-NAS"

    def backbone_table(self) -> dict[str, Any]:
        c = self.config
        return {"name": "tfnas_a", "dropout": c.drop_ratio, "embedding_size": c.feat_dim,
                "input_size": self.input_size()}

    def rename(self, key: str) -> str | None:
        return _RENAME(key)
