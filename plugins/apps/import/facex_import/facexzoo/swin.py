"""FaceX-Zoo ``SwinTransformer`` (``backbone/Swin_Transformer.py``) → FaceX ``swin_t`` / ``swin_s``.

Module and buffer names are FaceX-Zoo's on both sides (``layers.i.blocks.j.attn.relative_position_bias_table``,
``attn_mask``, ``output_layer.0/2/3``). The input is the 112×112 crop resized to 224×224, as FaceX-Zoo
trains Swin; FaceX's extraction resizes the same way (bilinear).
"""
from __future__ import annotations

from typing import Any

from facex_core import ConfigError

from .base import FaceXZooImporter

#: FaceX-Zoo's output layer is Linear(49 * 768, 512): a 7×7 grid of 768-channel tokens.
ZOO_STAGES, ZOO_FEATURES = 4, 512


class SwinImporter(FaceXZooImporter):
    zoo_type = "SwinTransformer"

    def check(self) -> None:
        c = self.config
        if len(c.depths) != ZOO_STAGES or len(c.num_heads) != ZOO_STAGES:
            raise ConfigError(f"backbone.depths / backbone.num_heads: FaceX-Zoo's Swin output layer needs "
                              f"{ZOO_STAGES} stages (a 7x7x768 map), got {len(c.depths)} and {len(c.num_heads)}")

    def input_size(self) -> list[int]:
        return [self.config.img_size, self.config.img_size]

    def backbone_table(self) -> dict[str, Any]:
        c = self.config
        return {"name": "swin_t" if tuple(c.depths) == (2, 2, 6, 2) else "swin_s", "input_size": self.input_size(),
                "embedding_size": ZOO_FEATURES, "patch_size": c.patch_size, "embed_dim": c.embed_dim,
                "depths": list(c.depths), "num_heads": list(c.num_heads), "window_size": c.window_size,
                "mlp_ratio": c.mlp_ratio, "qkv_bias": True, "drop_rate": c.drop_rate,
                "drop_path_rate": c.drop_path_rate}
