"""Registration of the MobileFaceNet backbones: config classes and the ``facex_components`` hook.

This module is imported at plugin discovery, so it must stay light: it never imports torch (the
network lives in :mod:`facex_backbone_mobilefacenet.mobilefacenet` and is loaded on build).
"""
from facex_core import Component, config, feature_map_size, hookimpl, option, resolve_map_size

#: Stride-2 steps between the input and the last feature map (conv1, conv_23, conv_34, conv_45); each
#: is a 3×3 padding-1 convolution, so 112 → 56 → 28 → 14 → 7 and 60 → 30 → 15 → 8 → 4.
NUM_HALVINGS = 4


@config
class MobileFaceNetConfig:
    """Hyper-parameters of MobileFaceNet (FaceX-Zoo ``backbone_conf.yaml`` section ``MobileFaceNet``)."""

    embedding_size: int = option(512, doc="length D of the output embedding (FaceX-Zoo: feat_dim)")
    input_size: tuple[int, int] = option(
        (112, 112), doc="input (H, W); (60, 112) for FaceX-Zoo's upper-half-face (eye region) crop")
    out_h: int | None = option(
        None, doc="height of the last feature map = GDConv kernel height; derived from input_size "
                  "when unset (7 at H=112, 4 at H=60), checked against it when set")
    out_w: int | None = option(
        None, doc="width of the last feature map = GDConv kernel width; derived from input_size "
                  "when unset (7 at W=112), checked against it when set")
    width: int = option(
        1, doc="trunk channel multiplier: the stages carry 64*width and 128*width channels "
               "(1 = MobileFaceNet, 2 = InsightFace MBF); expansion widths stay 128/256/512")
    blocks: tuple[int, int, int, int] = option(
        (1, 4, 6, 2), doc="blocks at 56/28/14/7 px: the first is 1 (a grouped 3x3 conv) or a count "
                          "of residual blocks, the others count residual bottlenecks (MBF-large: 2,8,12,4)")

    def __attrs_post_init__(self) -> None:
        if self.embedding_size < 1:
            raise ValueError(f"embedding_size must be >= 1, got {self.embedding_size}")
        resolve_map_size(self.input_size, self.out_h, self.out_w, NUM_HALVINGS)
        if self.width < 1:
            raise ValueError(f"width must be >= 1, got {self.width}")
        if len(self.blocks) != 4 or self.blocks[0] < 1 or min(self.blocks) < 0:
            raise ValueError("blocks must be 4 counts, the first >= 1 and the others >= 0, "
                             f"got {self.blocks}")

    @property
    def map_size(self) -> tuple[int, int]:
        """``(out_h, out_w)``: the last feature map's size, i.e. the GDConv kernel."""
        return feature_map_size(self.input_size, NUM_HALVINGS)


@config
class MBFConfig(MobileFaceNetConfig):
    """Hyper-parameters of InsightFace's MBF: MobileFaceNet with the trunk twice as wide."""

    width: int = option(
        2, doc="trunk channel multiplier: the stages carry 64*width and 128*width channels "
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
