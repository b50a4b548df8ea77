"""Registration of the Swin Transformer backbones: config classes and the ``facex_components`` hook.

This module is imported at plugin discovery, so it must stay light: it never imports torch (the
network lives in :mod:`facex_backbone_swin.swin` and is loaded on build).
"""
from typing import Any

from facex_core import Component, config, feature_map_size, hookimpl, option


def stage_resolutions(input_size: tuple[int, int], patch_size: int, num_stages: int) -> list[tuple[int, int]]:
    """Token-grid size ``(h, w)`` of every stage for an ``(H, W)`` input.

    The patch embedding is a ``patch_size`` stride convolution (``floor(H / patch_size)``); each patch
    merging halves the grid, rounding up because an odd grid is zero-padded first:
    224 → 56, 28, 14, 7 and 120 → 30, 15, 8, 4 (at ``patch_size`` 4).
    """
    grid = (input_size[0] // patch_size, input_size[1] // patch_size)
    return [feature_map_size(grid, halvings) for halvings in range(num_stages)]


def _depths_option(default: tuple[int, ...]) -> Any:
    return option(default, ge=1, doc="Swin blocks per stage (Swin-T 2,2,6,2; Swin-S 2,2,18,2)")


def _drop_path_option(default: float) -> Any:
    return option(default, ge=0, lt=1, doc="stochastic depth of the last block, rising linearly from 0 "
                                           "(Swin-T 0.2, Swin-S 0.3)")


@config
class SwinTConfig:
    """Hyper-parameters of Swin-T with FaceX-Zoo's output layer (``backbone_conf.yaml`` section
    ``SwinTransformer`` with Swin-T depths)."""

    embedding_size: int = option(
        512, ge=1, doc="length D of the output embedding (FaceX-Zoo hard-codes 512)")
    input_size: tuple[int, int] = option(
        (224, 224), ge=1, doc="input (H, W); FaceX-Zoo resizes 112x112 crops to 224x224, and (120, 224) "
                              "is the upper-half-face crop resized the same way (last map 4x7)")
    out_h: int | None = option(
        None, ge=1, doc="height of the last token grid (the flattened map); derived from input_size "
                        "when unset (7 at H=224, 4 at H=120), checked against it when set")
    out_w: int | None = option(
        None, ge=1, doc="width of the last token grid; derived from input_size when unset (7 at W=224), "
                        "checked against it when set")
    patch_size: int = option(4, ge=1, doc="side of the non-overlapping patches the stem embeds")
    embed_dim: int = option(96, ge=1, doc="channels of stage 1; stage i has embed_dim * 2**i")
    depths: tuple[int, ...] = _depths_option((2, 2, 6, 2))
    num_heads: tuple[int, ...] = option(
        (3, 6, 12, 24), ge=1, doc="attention heads per stage, one per stage")
    window_size: int = option(
        7, ge=1, doc="side of the attention windows (clipped to a stage's grid where the grid is smaller)")
    mlp_ratio: float = option(4.0, gt=0, doc="hidden width of each block's MLP, in multiples of its channels")
    qkv_bias: bool = option(True, doc="learn a bias in the query/key/value projection")
    drop_rate: float = option(0.0, ge=0, lt=1,
                              doc="dropout after the embedding, the MLPs and the attention output")
    attn_drop_rate: float = option(0.0, ge=0, lt=1, doc="dropout on the attention weights")
    drop_path_rate: float = _drop_path_option(0.2)

    def __attrs_post_init__(self) -> None:
        if len(self.input_size) != 2:
            raise ValueError(f"input_size must be two positive integers (H, W), got {self.input_size}")
        if min(self.input_size) < self.patch_size:
            raise ValueError(f"patch_size must be >= 1 and fit the input {tuple(self.input_size)}, "
                             f"got {self.patch_size}")
        if not self.depths or len(self.depths) != len(self.num_heads):
            raise ValueError(f"depths {self.depths} and num_heads {self.num_heads} must give one "
                             "entry per stage")
        for i, heads in enumerate(self.num_heads):
            if (self.embed_dim * 2 ** i) % heads:
                raise ValueError(f"stage {i} has {self.embed_dim * 2 ** i} channels, which "
                                 f"num_heads[{i}]={heads} does not divide")
        derived_h, derived_w = self.map_size
        for name, given, derived in (("out_h", self.out_h, derived_h), ("out_w", self.out_w, derived_w)):
            if given is not None and given != derived:
                raise ValueError(f"{name}={given} does not match input_size {tuple(self.input_size)}, "
                                 f"whose last token grid is {derived_h}x{derived_w}; "
                                 f"set {name}={derived} or leave it unset")

    @property
    def resolutions(self) -> list[tuple[int, int]]:
        """Token grid ``(h, w)`` of every stage."""
        return stage_resolutions(self.input_size, self.patch_size, len(self.depths))

    @property
    def map_size(self) -> tuple[int, int]:
        """``(out_h, out_w)``: the last stage's token grid, which the output layer flattens."""
        return self.resolutions[-1]


@config
class SwinSConfig(SwinTConfig):
    """Hyper-parameters of Swin-S: Swin-T with a 18-block third stage (FaceX-Zoo's yaml default)."""

    depths: tuple[int, ...] = _depths_option((2, 2, 18, 2))
    drop_path_rate: float = _drop_path_option(0.3)


_FACTORY = "facex_backbone_swin.swin:SwinTransformer"
_PAPER = ("Z. Liu, Y. Lin, Y. Cao, H. Hu, Y. Wei, Z. Zhang, S. Lin, B. Guo. Swin Transformer: "
          "Hierarchical Vision Transformer using Shifted Windows. ICCV 2021 (arXiv:2103.14030); "
          "face layout (flatten output layer, 224x224 input) from FaceX-Zoo")


@hookimpl
def facex_components() -> list[Component]:
    return [
        Component(kind="backbone", name="swin_t", config=SwinTConfig, factory=_FACTORY,
                  summary="Swin-T, FaceX-Zoo layout: 46.79M params, 4.51 GMACs at 224x224",
                  paper=_PAPER),
        Component(kind="backbone", name="swin_s", config=SwinSConfig, factory=_FACTORY,
                  summary="Swin-S, FaceX-Zoo layout: 68.11M params, 8.76 GMACs at 224x224",
                  paper=_PAPER),
    ]
