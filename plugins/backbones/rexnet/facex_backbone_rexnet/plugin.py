"""Registration of the ReXNet backbone: its config class and the ``facex_components`` hook.

This module is imported at plugin discovery, so it must stay light: it never imports torch (the
network lives in :mod:`facex_backbone_rexnet.rexnet` and is loaded on build).
"""
from typing import ClassVar

from facex_core import Component, FlattenBackboneConfig, config, hookimpl, option

#: ReXNet's six stages (as in the official ``rexnetv1.py``): blocks at depth_mult 1.0,
#: stride of the first block, squeeze-excitation (when use_se). The stem (3×3, 32 channels) has
#: stride 1 here (ImageNet: 2), so the four stride-2 stages take 112 to 7.
STAGE_BLOCKS = (1, 2, 2, 3, 3, 5)
STAGE_STRIDES = (1, 2, 2, 2, 1, 2)
STAGE_SE = (False, False, True, True, True, True)


#: Stride-2 stages between the input and the last feature map. Every stride-2 step is a 3×3
#: depthwise convolution with padding 1, mapping ``n`` to ``ceil(n / 2)``: 112 → 56 → 28 → 14 → 7
#: and 60 → 30 → 15 → 8 → 4.
NUM_HALVINGS = sum(stride == 2 for stride in STAGE_STRIDES)


@config
class ReXNetConfig(FlattenBackboneConfig):
    """Hyper-parameters of ReXNet (FaceX-Zoo ``backbone_conf.yaml`` section ``ReXNet``); the
    defaults are ReXNet-1.0 as FaceX-Zoo trains it (without squeeze-excitation)."""

    halvings: ClassVar[int] = NUM_HALVINGS

    input_ch: int = option(16, ge=1, doc="output channels of the first block (before width_mult)")
    final_ch: int = option(180, ge=0, doc="channel growth: each of the N blocks after the first adds "
                                    "final_ch/N channels (16 -> 185 over 16 blocks at the defaults)")
    width_mult: float = option(1.0, gt=0, doc="width multiplier of every block and of the 512-channel last conv")
    depth_mult: float = option(1.0, gt=0, doc="depth multiplier: a stage of n blocks gets ceil(n*depth_mult)")
    use_se: bool = option(False, doc="squeeze-excitation in stages 3-6 (FaceX-Zoo's default: off)")
    se_ratio: int = option(12, ge=1, doc="squeeze-excitation reduction: C -> C // se_ratio channels")
    dropout_ratio: float = option(0.2, ge=0, lt=1, doc="dropout before the embedding's linear layer")


_FACTORY = "facex_backbone_rexnet.rexnet:ReXNet"
_PAPER = ("D. Han, S. Yun, B. Heo, Y. Yoo. Rethinking Channel Dimensions for Efficient Model Design "
          "(ReXNet). CVPR 2021 (arXiv:2007.00992); FaceX-Zoo layout (stem stride 1, 512-channel last "
          "conv, flatten+FC embedding), the embedding layer sized for any width_mult")


@hookimpl
def facex_components() -> list[Component]:
    return [
        Component(kind="backbone", name="rexnet_1_0", config=ReXNetConfig, factory=_FACTORY,
                  summary="ReXNet-1.0, FaceX-Zoo layout (use_se off): 15.20M params, 0.40 GMACs at "
                          "112x112 (use_se on: 16.22M)",
                  paper=_PAPER),
    ]
