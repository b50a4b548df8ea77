"""Registration of the Residual Attention Network backbones: config classes and the
``facex_components`` hook.

Imported at plugin discovery, so it stays light: no torch here (the network lives in
:mod:`facex_backbone_attention.attention` and is imported only when a model is built).
"""
from typing import ClassVar

from facex_core import Component, FlattenBackboneConfig, config, hookimpl, option

#: Resolution halvings from the input to the last map: the 7×7 stride-2 stem and the stride-2
#: residual blocks in front of stage 2, stage 3 and the final blocks. Every downsampling layer
#: (7×7/s2/p3 stem, 3×3/s2/p1 convolution, 1×1/s2 shortcut, the soft masks' 3×3/s2/p1 max-pools)
#: maps a side ``n`` to ``ceil(n / 2)``: 112 → 56, 28, 14, 7 and 60 → 30, 15, 8, 4.
NUM_HALVINGS = 4


@config
class AttentionNetConfig(FlattenBackboneConfig):
    """Hyper-parameters of FaceX-Zoo's ResidualAttentionNet (``backbone_conf.yaml`` section
    ``AttentionNet``); the default is Attention-56."""

    halvings: ClassVar[int] = NUM_HALVINGS

    modules: tuple[int, int, int] = option(
        (1, 1, 1), ge=0, doc="attention modules in stages 1, 2, 3 (FaceX-Zoo stage1_modules.."
                             "stage3_modules): 1,1,1 = Attention-56, 1,2,3 = Attention-92")
    width: int = option(
        64, ge=1, doc="stem channels; the stages carry 4x, 8x, 16x and 32x that (256/512/1024/2048 at 64)")

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if len(self.modules) != 3:
            raise ValueError(f"modules must be 3 counts >= 0, got {self.modules}")


@config
class Attention92Config(AttentionNetConfig):
    """Attention-92: one, two and three attention modules in the three stages."""

    modules: tuple[int, int, int] = option(
        (1, 2, 3), ge=0, doc="attention modules in stages 1, 2, 3 (FaceX-Zoo stage1_modules.."
                             "stage3_modules): 1,2,3 = Attention-92, 1,1,1 = Attention-56")


_FACTORY = "facex_backbone_attention.attention:ResidualAttentionNet"
_PAPER = ("F. Wang, M. Jiang, C. Qian, et al. Residual Attention Network for Image Classification. "
          "CVPR 2017 (arXiv:1704.06904); face layout (stem without max-pool, flatten+linear output) "
          "from FaceX-Zoo. FaceX-Zoo's count also holds a never-used 1x1 shortcut conv in every "
          "identity residual block; FaceX leaves those out")


@hookimpl
def facex_components() -> list[Component]:
    return [
        Component(kind="backbone", name="attention56", config=AttentionNetConfig, factory=_FACTORY,
                  summary="Residual Attention Network-56, FaceX-Zoo layout: 81.14M params (FaceX-Zoo "
                          "98.97M incl. 17.83M unused shortcut convs), 6.23 GMACs at 112x112",
                  paper=_PAPER),
        Component(kind="backbone", name="attention92", config=Attention92Config, factory=_FACTORY,
                  summary="Residual Attention Network-92, FaceX-Zoo layout: 101.79M params (FaceX-Zoo "
                          "134.56M incl. 32.77M unused shortcut convs), 10.49 GMACs at 112x112",
                  paper=_PAPER),
    ]
