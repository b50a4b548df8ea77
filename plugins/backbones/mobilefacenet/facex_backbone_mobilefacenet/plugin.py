"""Registration of the MobileFaceNet backbones: config classes and the ``facex_components`` hook.

This module is imported at plugin discovery, so it must stay light: it never imports torch (the
network lives in :mod:`facex_backbone_mobilefacenet.mobilefacenet` and is loaded on build).
"""
from typing import ClassVar

from facex_core import Component, FlattenBackboneConfig, config, hookimpl, option

#: Stride-2 steps between the input and the last feature map (conv1, conv_23, conv_34, conv_45); each
#: is a 3×3 padding-1 convolution, so 112 → 56 → 28 → 14 → 7 and 60 → 30 → 15 → 8 → 4.
NUM_HALVINGS = 4


@config
class MobileFaceNetConfig(FlattenBackboneConfig):
    """Hyper-parameters of MobileFaceNet (FaceX-Zoo ``backbone_conf.yaml`` section ``MobileFaceNet``).

    The last feature map (``out_h`` × ``out_w``, :attr:`map_size`) is also the GDConv kernel.
    """

    halvings: ClassVar[int] = NUM_HALVINGS

    width: int = option(
        1, ge=1, doc="trunk channel multiplier: the stages carry 64*width and 128*width channels "
               "(1 = MobileFaceNet, 2 = InsightFace MBF); expansion widths stay 128/256/512")
    blocks: tuple[int, int, int, int] = option(
        (1, 4, 6, 2), ge=0, doc="blocks at 56/28/14/7 px: the first is 1 (a grouped 3x3 conv) or a count "
                                "of residual blocks, the others count residual bottlenecks (MBF-large: 2,8,12,4)")

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if len(self.blocks) != 4 or self.blocks[0] < 1:
            raise ValueError("blocks must be 4 counts, the first >= 1 and the others >= 0, "
                             f"got {self.blocks}")


@config
class MBFConfig(MobileFaceNetConfig):
    """Hyper-parameters of InsightFace's MBF: MobileFaceNet with the trunk twice as wide."""

    width: int = option(
        2, ge=1, doc="trunk channel multiplier: the stages carry 64*width and 128*width channels "
               "(2 = InsightFace MBF, 4 with blocks [2,8,12,4] = MBF-large)")


_FACTORY = "facex_backbone_mobilefacenet.mobilefacenet:MobileFaceNet"
_PAPER = ("S. Chen, Y. Liu, X. Gao, Z. Han. MobileFaceNets: Efficient CNNs for Accurate Real-Time "
          "Face Verification on Mobile Devices. CCBR 2018 (arXiv:1804.07573)")


@hookimpl
def facex_components() -> list[Component]:
    return [
        Component(kind="backbone", name="mobilefacenet", config=MobileFaceNetConfig, factory=_FACTORY,
                  summary="MobileFaceNet, FaceX-Zoo layout: 1.20M params, 0.22 GMACs at 112x112",
                  paper=_PAPER),
        Component(kind="backbone", name="mbf", config=MBFConfig, factory=_FACTORY,
                  summary="InsightFace MBF, MobileFaceNet with 2x trunk width: 2.06M params, "
                          "0.44 GMACs at 112x112",
                  paper=_PAPER + "; wider variant from InsightFace arcface_torch (get_mbf, scale=2)"),
    ]
