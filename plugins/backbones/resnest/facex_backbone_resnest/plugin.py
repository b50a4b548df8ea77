"""Registration of the ResNeSt backbones: config classes and the ``facex_components`` hook.

This module is imported at plugin discovery, so it must stay light: it never imports torch (the
network lives in :mod:`facex_backbone_resnest.resnest` and is loaded on build).
"""
from typing import ClassVar

from facex_core import Component, FlattenBackboneConfig, config, hookimpl, option

#: Split-attention bottlenecks per stage, for each depth (ResNeSt paper / reference code).
LAYERS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
#: Deep-stem width per depth: ResNeSt-50 uses 32, the deeper networks 64. The stem's output, and so
#: the input of the first stage, is twice this; the face input layer that replaces the stem must
#: match it (FaceX-Zoo hard-codes 64 channels, which is why its ResNeSt-101 fails).
STEM_WIDTH = {50: 32, 101: 64}
#: Stride-2 steps between the input and the last feature map: the first block of each stage (the
#: face input layer keeps the resolution; ImageNet ResNeSt's stem and max-pool are dropped). A
#: stride-2 block pools its residual branch with a 3×3, padding-1 average pool and its shortcut with
#: a 2×2 ceil-mode average pool; both map ``n`` to ``ceil(n / 2)``: 112 → 7, 60 → 4.
NUM_HALVINGS = 4


_DEPTH_DOC = "50 or 101: blocks per stage 3,4,6,3 / 3,4,23,3 (FaceX-Zoo: depth)"


@config
class ResNeStConfig(FlattenBackboneConfig):
    """Hyper-parameters of ResNeSt (FaceX-Zoo ``backbone_conf.yaml`` section ``ResNeSt``); the
    defaults are ResNeSt-50."""

    halvings: ClassVar[int] = NUM_HALVINGS

    depth: int = option(50, choices=sorted(LAYERS), doc=_DEPTH_DOC)
    dropout: float = option(
        0.4, ge=0, lt=1, doc="dropout probability between the last BatchNorm2d and the flatten+linear output "
                 "layer (FaceX-Zoo: drop_ratio)")
    radix: int = option(
        2, ge=1, doc="splits per split-attention convolution, a divisor of 64 (1 = an SE-like sigmoid gate)")
    stem_width: int | None = option(
        None, ge=1, doc="deep-stem width; the face input layer has 2*stem_width channels. Unset = the "
                  "paper's for depth (32 for 50, 64 for 101)")
    layers: tuple[int, int, int, int] | None = option(
        None, ge=1, doc="blocks per stage, overriding depth (e.g. [1, 1, 1, 1] for a small test "
                  "network); unset = taken from depth")

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if 64 % self.radix:
            # the splits are the groups of one grouped convolution over the 64*2^k-wide input
            raise ValueError(f"radix must be a divisor of 64 (1, 2, 4, ...), got {self.radix}")
        if self.layers is not None and len(self.layers) != 4:
            raise ValueError(f"layers must be 4 counts >= 1, got {self.layers}")

    @property
    def stage_layers(self) -> tuple[int, int, int, int]:
        """Blocks in each of the four stages: ``layers`` if given, else those of ``depth``."""
        return tuple(self.layers) if self.layers is not None else LAYERS[self.depth]

    @property
    def stem_channels(self) -> int:
        """Channels of the face input layer = input channels of the first stage."""
        return 2 * (self.stem_width if self.stem_width is not None else STEM_WIDTH[self.depth])


@config
class ResNeSt101Config(ResNeStConfig):
    """Hyper-parameters of ResNeSt-101 (component ``resnest101``)."""

    depth: int = option(101, choices=sorted(LAYERS), doc=_DEPTH_DOC)


ResNeSt50Config = ResNeStConfig

_FACTORY = "facex_backbone_resnest.resnest:ResNeSt"
_PAPER = ("H. Zhang, C. Wu, Z. Zhang, Y. Zhu, H. Lin, Z. Zhang, Y. Sun, T. He, J. Mueller, "
          "R. Manmatha, M. Li, A. Smola. ResNeSt: Split-Attention Networks. CVPRW 2022 "
          "(arXiv:2004.08955); layout of FaceX-Zoo backbone/resnest (3x3 face input layer instead of "
          "the deep stem, flatten+FC embedding), returning the embedding unnormalised")


@hookimpl
def facex_components() -> list[Component]:
    return [
        Component(kind="backbone", name="resnest50", config=ResNeSt50Config, factory=_FACTORY,
                  paper=_PAPER,
                  summary="ResNeSt-50 (radix 2), FaceX-Zoo layout: 76.79M params, 5.47 GMACs at 112x112"),
        Component(kind="backbone", name="resnest101", config=ResNeSt101Config, factory=_FACTORY,
                  paper=_PAPER,
                  summary="ResNeSt-101 (radix 2), FaceX-Zoo layout with its 64-vs-128 stem mismatch "
                          "fixed: 97.50M params, 9.31 GMACs at 112x112"),
    ]
