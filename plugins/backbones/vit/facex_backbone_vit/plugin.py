"""Registration of the face ViT backbones: config classes and the ``facex_components`` hook.

This module is imported at plugin discovery, so it must stay light: it never imports torch (the
network lives in :mod:`facex_backbone_vit.vit` and is loaded on build).
"""
from typing import Any

from facex_core import Component, config, hookimpl, option


def patch_grid(input_size: tuple[int, int], patch_size: int) -> tuple[int, int]:
    """Patches ``(rows, cols)`` of an ``(H, W)`` input: a stride-``patch_size`` convolution without
    padding, so a remainder is never seen (112 // 9 = 12: pixels 108..111 are dropped)."""
    return input_size[0] // patch_size, input_size[1] // patch_size


def _embed_dim_option(default: int) -> Any:
    return option(default, ge=1, doc="token width (ViT-T 256, ViT-S and ViT-B 512)")


def _depth_option(default: int) -> Any:
    return option(default, ge=1, doc="transformer blocks (ViT-T and ViT-S 12, ViT-B 24)")


@config
class ViTTConfig:
    """Hyper-parameters of InsightFace's ViT-T face transformer (``get_model("vit_t")``)."""

    embedding_size: int = option(512, ge=1, doc="length D of the output embedding (InsightFace: num_features)")
    input_size: tuple[int, int] = option(
        (112, 112), ge=1, doc="input (H, W); (60, 112) for the upper-half-face crop (6x12 patches)")
    patch_size: int = option(9, ge=1, doc="side of the non-overlapping patches (112 // 9 = 12: 144 patches)")
    embed_dim: int = _embed_dim_option(256)
    depth: int = _depth_option(12)
    num_heads: int = option(8, ge=1, doc="attention heads per block")
    mlp_ratio: float = option(4.0, gt=0, doc="hidden width of each block's MLP, in multiples of embed_dim")
    qkv_bias: bool = option(False, doc="learn a bias in the query/key/value projection")
    drop_rate: float = option(0.0, ge=0, lt=1, doc="dropout after the position embedding, the MLPs and attention")
    attn_drop_rate: float = option(0.0, ge=0, lt=1, doc="dropout on the attention weights")
    drop_path_rate: float = option(
        0.1, ge=0, lt=1, doc="stochastic depth of the last block, rising linearly from 0 at the first")
    mask_ratio: float = option(
        0.1, ge=0, lt=1, doc="training only: fraction of patch tokens randomly dropped before the blocks and "
                             "replaced by a learned mask token after them (0 disables)")
    gradient_checkpointing: bool = option(
        False, doc="training only: recompute each block in the backward pass to save memory")

    def __attrs_post_init__(self) -> None:
        if len(self.input_size) != 2:
            raise ValueError(f"input_size must be two positive integers (H, W), got {self.input_size}")
        if min(self.input_size) < self.patch_size:
            raise ValueError(f"patch_size must be >= 1 and fit the input {tuple(self.input_size)}, "
                             f"got {self.patch_size}")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"num_heads={self.num_heads} must divide embed_dim={self.embed_dim}")
        if self.kept_patches < 1:
            raise ValueError(f"mask_ratio={self.mask_ratio} leaves no patch of {self.num_patches}")

    @property
    def grid(self) -> tuple[int, int]:
        """Patch grid ``(rows, cols)``."""
        return patch_grid(self.input_size, self.patch_size)

    @property
    def num_patches(self) -> int:
        """Number of patch tokens (144 at 112x112, patch 9)."""
        rows, cols = self.grid
        return rows * cols

    @property
    def kept_patches(self) -> int:
        """Tokens the blocks see in training when masking: ``int(num_patches * (1 - mask_ratio))``."""
        return int(self.num_patches * (1 - self.mask_ratio))


@config
class ViTSConfig(ViTTConfig):
    """Hyper-parameters of InsightFace's ViT-S: ViT-T with 512-wide tokens."""

    embed_dim: int = _embed_dim_option(512)


@config
class ViTBConfig(ViTSConfig):
    """Hyper-parameters of InsightFace's ViT-B: ViT-S with 24 blocks, trained with checkpointing."""

    depth: int = _depth_option(24)
    gradient_checkpointing: bool = option(
        True, doc="training only: recompute each block in the backward pass to save memory")


_FACTORY = "facex_backbone_vit.vit:VisionTransformer"
_PAPER = ("A. Dosovitskiy et al. An Image is Worth 16x16 Words: Transformers for Image Recognition at "
          "Scale. ICLR 2021 (arXiv:2010.11929); face variant (112x112, patch 9, flatten feature head, "
          "token masking) from InsightFace arcface_torch (X. An et al., Partial FC, CVPR 2022)")


@hookimpl
def facex_components() -> list[Component]:
    return [
        Component(kind="backbone", name="vit_t", config=ViTTConfig, factory=_FACTORY,
                  summary="InsightFace ViT-T (dim 256, 12 blocks): 19.14M params, 1.50 GMACs at 112x112",
                  paper=_PAPER),
        Component(kind="backbone", name="vit_s", config=ViTSConfig, factory=_FACTORY,
                  summary="InsightFace ViT-S (dim 512, 12 blocks): 76.02M params, 5.75 GMACs at 112x112",
                  paper=_PAPER),
        Component(kind="backbone", name="vit_b", config=ViTBConfig, factory=_FACTORY,
                  summary="InsightFace ViT-B (dim 512, 24 blocks): 113.83M params, 11.44 GMACs at 112x112",
                  paper=_PAPER),
    ]
