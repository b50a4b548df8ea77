"""InsightFace ``arcface_torch`` networks as importer configs (torch-free: imported at discovery).

One importer per ``backbones.get_model(name)`` name (``r50``, ``mbf``, ``vit_t``, …); its config holds
the keywords that name fixes, with the values ``get_model`` uses, so ``--set`` can describe a model
built with other ones (``--set backbone.num_features=256``).
"""
from __future__ import annotations

from typing import Any

from facex_core import config, option

#: IBasicBlocks per stage of each ``get_model`` ResNet name.
IRESNET_LAYERS = {"r18": (2, 2, 2, 2), "r34": (3, 4, 6, 3), "r50": (3, 4, 14, 3), "r100": (3, 13, 30, 3),
                  "r200": (6, 26, 60, 6)}


def _num_features() -> Any:
    return option(512, ge=1, doc="length of the embedding (get_model's num_features; every released model: 512)")


def _iresnet_config(name: str) -> type:
    """The importer config of ``get_model(name)`` for an IResNet name."""
    cls_name = f"IResNet{name[1:]}Model"
    namespace = {
        "__module__": __name__, "__qualname__": cls_name,
        "__doc__": f"arcface_torch ``get_model({name!r})``: IResNet with {IRESNET_LAYERS[name]} blocks per stage.",
        "__annotations__": {"layers": tuple[int, int, int, int], "num_features": int, "dropout": float},
        "layers": option(IRESNET_LAYERS[name], ge=1, doc="IBasicBlocks in the 64/128/256/512-channel stages"),
        "num_features": _num_features(),
        "dropout": option(0.0, ge=0, lt=1, doc="dropout before fc (get_model's dropout; 0 in every config)"),
    }
    return config(type(cls_name, (), namespace))


IRESNET_CONFIGS: dict[str, type] = {name: _iresnet_config(name) for name in IRESNET_LAYERS}


@config
class MBFModel:
    """arcface_torch ``get_model('mbf')``: MobileFaceNet with the trunk twice as wide."""

    num_features: int = _num_features()
    blocks: tuple[int, int, int, int] = option((1, 4, 6, 2), ge=1, doc="blocks at 56/28/14/7 px")
    scale: int = option(2, ge=1, doc="trunk width multiplier (64*scale and 128*scale channels)")


@config
class MBFLargeModel(MBFModel):
    """arcface_torch ``get_model('mbf_large')``."""

    blocks: tuple[int, int, int, int] = option((2, 8, 12, 4), ge=1, doc="blocks at 56/28/14/7 px")
    scale: int = option(4, ge=1, doc="trunk width multiplier (64*scale and 128*scale channels)")


def _vit_config(name: str, embed_dim: int, depth: int, drop_path_rate: float, mask_ratio: float) -> type:
    cls_name = "ViT" + "".join(part.capitalize() for part in name.split("_")[1:]) + "Model"
    namespace = {
        "__module__": __name__, "__qualname__": cls_name,
        "__doc__": f"arcface_torch ``get_model({name!r})``: face ViT, width {embed_dim}, {depth} blocks.",
        "__annotations__": {"num_features": int, "embed_dim": int, "depth": int, "num_heads": int,
                            "patch_size": int, "drop_path_rate": float, "mask_ratio": float},
        "num_features": _num_features(),
        "embed_dim": option(embed_dim, ge=1, doc="token width"),
        "depth": option(depth, ge=1, doc="transformer blocks"),
        "num_heads": option(8, ge=1, doc="attention heads"),
        "patch_size": option(9, ge=1, doc="patch side (112 // 9 = 12: 144 patches)"),
        "drop_path_rate": option(drop_path_rate, ge=0, lt=1, doc="stochastic depth of the last block (training)"),
        "mask_ratio": option(mask_ratio, ge=0, lt=1, doc="token masking ratio (training)"),
    }
    return config(type(cls_name, (), namespace))


#: ``get_model`` ViT names: (FaceX component, token width, blocks, drop_path_rate, mask_ratio).
VIT_MODELS = {
    "vit_t": ("vit_t", 256, 12, 0.1, 0.1),
    "vit_t_dp005_mask0": ("vit_t", 256, 12, 0.05, 0.0),
    "vit_s": ("vit_s", 512, 12, 0.1, 0.1),
    "vit_s_dp005_mask_0": ("vit_s", 512, 12, 0.05, 0.0),
    "vit_b": ("vit_b", 512, 24, 0.1, 0.1),
    "vit_b_dp005_mask_005": ("vit_b", 512, 24, 0.05, 0.05),
    "vit_l_dp005_mask_005": ("vit_b", 768, 24, 0.05, 0.05),
}
VIT_CONFIGS: dict[str, type] = {name: _vit_config(name, *spec[1:]) for name, spec in VIT_MODELS.items()}
