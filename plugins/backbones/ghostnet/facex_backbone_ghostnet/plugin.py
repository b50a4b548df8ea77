"""Registration of the GhostNet backbone: its config class and the ``facex_components`` hook.

This module is imported at plugin discovery, so it must stay light: it never imports torch (the
network lives in :mod:`facex_backbone_ghostnet.ghostnet` and is loaded on build).
"""
from typing import ClassVar

from facex_core import Component, FlattenBackboneConfig, config, hookimpl, option

#: Ghost bottlenecks of GhostNet 1.0× (paper, Table 1): (depthwise kernel, expansion (hidden)
#: channels, output channels, squeeze-excitation ratio (0 = none), stride). The stem (3×3, 16
#: channels) has stride 1 here (ImageNet: 2), so the four stride-2 blocks take 112 to 7.
BLOCKS: tuple[tuple[int, int, int, float, int], ...] = (
    (3, 16, 16, 0.0, 1),
    (3, 48, 24, 0.0, 2), (3, 72, 24, 0.0, 1),
    (5, 72, 40, 0.25, 2), (5, 120, 40, 0.25, 1),
    (3, 240, 80, 0.0, 2), (3, 200, 80, 0.0, 1), (3, 184, 80, 0.0, 1), (3, 184, 80, 0.0, 1),
    (3, 480, 112, 0.25, 1), (3, 672, 112, 0.25, 1),
    (5, 672, 160, 0.25, 2), (5, 960, 160, 0.0, 1), (5, 960, 160, 0.25, 1), (5, 960, 160, 0.0, 1),
    (5, 960, 160, 0.25, 1),
)


#: Stride-2 blocks between the input and the last feature map. Each k×k depthwise conv pads
#: (k-1)/2, mapping ``n`` to ``ceil(n / 2)``: 112 → 56 → 28 → 14 → 7 and 60 → 30 → 15 → 8 → 4.
NUM_HALVINGS = sum(stride == 2 for *_, stride in BLOCKS)


@config
class GhostNetConfig(FlattenBackboneConfig):
    """Hyper-parameters of GhostNet (FaceX-Zoo ``backbone_conf.yaml`` section ``GhostNet``)."""

    halvings: ClassVar[int] = NUM_HALVINGS

    width: float = option(
        1.0, gt=0, doc="width multiplier: every channel count c (stem, blocks, the final 960) becomes "
                       "c*width rounded to a multiple of 4")
    drop_ratio: float = option(0.2, ge=0, lt=1, doc="dropout before the embedding's linear layer")


_FACTORY = "facex_backbone_ghostnet.ghostnet:GhostNet"
_PAPER = ("K. Han, Y. Wang, Q. Tian, J. Guo, C. Xu, C. Xu. GhostNet: More Features from Cheap "
          "Operations. CVPR 2020 (arXiv:1911.11907); FaceX-Zoo layout (stem stride 1, flatten+FC "
          "embedding), the embedding layer sized for any width")


@hookimpl
def facex_components() -> list[Component]:
    return [
        Component(kind="backbone", name="ghostnet", config=GhostNetConfig, factory=_FACTORY,
                  summary="GhostNet, FaceX-Zoo layout, width 1.0 (any width works): 26.76M params, "
                          "0.16 GMACs at 112x112",
                  paper=_PAPER),
    ]
