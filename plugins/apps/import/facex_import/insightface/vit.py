"""InsightFace face ViT (``get_model('vit_t' .. 'vit_l_dp005_mask_005')``) → FaceX ``vit_t`` / ``vit_s`` /
``vit_b``: the same key names (``patch_embed.proj``, ``pos_embed``, ``blocks.i.attn.qkv``, ``feature.0..3``,
``mask_token``)."""
from __future__ import annotations

from typing import Any

from .base import InsightFaceImporter


class ViTImporter(InsightFaceImporter):

    def backbone_table(self) -> dict[str, Any]:
        c = self.config
        name = {256: "vit_t", 512: "vit_s"}.get(c.embed_dim, "vit_b")
        if c.embed_dim == 512 and c.depth == 24:
            name = "vit_b"
        return {"name": name, "embedding_size": c.num_features, "input_size": [112, 112],
                "patch_size": c.patch_size, "embed_dim": c.embed_dim, "depth": c.depth, "num_heads": c.num_heads,
                "mlp_ratio": 4.0, "qkv_bias": False, "drop_path_rate": c.drop_path_rate, "mask_ratio": c.mask_ratio}

