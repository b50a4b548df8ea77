"""Registration of the HRNet backbone: its config class and the ``facex_components`` hook.

Imported at plugin discovery, so it stays light: no torch here (the network lives in
:mod:`facex_backbone_hrnet.hrnet` and is imported only when a model is built).
"""
from typing import ClassVar

from facex_core import Component, FlattenBackboneConfig, config, hookimpl, option

#: Branches of stages 2, 3 and 4 (fixed by the architecture: one new, half-resolution branch per stage).
STAGE_BRANCHES = (2, 3, 4)


#: Resolution halvings from the input to the lowest-resolution branch: the stem's one stride-2
#: convolution gives branch 1, and each further branch (like each stride-2 step of the
#: classification head) comes from a 3×3 stride-2 padding-1 convolution, mapping a side ``n`` to
#: ``ceil(n / 2)``: 112 → 56, 28, 14, 7 and 60 → 30, 15, 8, 4.
NUM_HALVINGS = len(STAGE_BRANCHES) + 1


@config
class HRNetConfig(FlattenBackboneConfig):
    """Hyper-parameters of FaceX-Zoo's HRNet (``backbone_conf.yaml`` section ``HRNet``), W18 layout.

    FaceX-Zoo's ``EXTRA.STAGEk`` keys map onto ``stage1_*`` (STAGE1), ``width`` (``NUM_CHANNELS`` of
    STAGE2–4 are ``width·[1, 2, 4, 8]``), ``modules`` (``NUM_MODULES``) and ``blocks`` (``NUM_BLOCKS``,
    the same count on every branch of a stage). The last feature map (``out_h`` × ``out_w``,
    :attr:`map_size`) is the lowest-resolution branch, which the head ends at.
    """

    halvings: ClassVar[int] = NUM_HALVINGS

    width: int = option(
        18, ge=1, doc="channels of the highest-resolution branch; the four branches carry "
                "width*1, *2, *4, *8 (18 = HRNet-W18, FaceX-Zoo's default)")
    stage1_channels: int = option(
        64, ge=1, doc="bottleneck width of the stage-1 layer (FaceX-Zoo STAGE1 NUM_CHANNELS); it outputs 4x that")
    stage1_blocks: int = option(4, ge=1, doc="Bottleneck blocks in stage 1 (FaceX-Zoo STAGE1 NUM_BLOCKS)")
    modules: tuple[int, int, int] = option(
        (1, 4, 3), ge=1, doc="multi-resolution modules in stages 2, 3 and 4 (FaceX-Zoo NUM_MODULES)")
    blocks: tuple[int, int, int] = option(
        (4, 4, 4), ge=1, doc="BasicBlocks on each branch of a module, for stages 2, 3 and 4 "
                             "(FaceX-Zoo NUM_BLOCKS)")
    head_channels: tuple[int, int, int, int] = option(
        (32, 64, 128, 256), ge=1, doc="bottleneck widths of the head's per-branch 'increase' blocks "
                                      "(outputs 4x: 128/256/512/1024)")
    final_channels: int = option(
        2048, ge=1, doc="channels of the head's last 1x1 convolution, flattened with the map into the "
                        "linear layer")

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for key, length in (("modules", 3), ("blocks", 3), ("head_channels", 4)):
            values = getattr(self, key)
            if len(values) != length:
                raise ValueError(f"{key} must be {length} integers >= 1, got {values}")


_PAPER = ("J. Wang, K. Sun, T. Cheng, et al. Deep High-Resolution Representation Learning for Visual "
          "Recognition. TPAMI 2020 (arXiv:1908.07919); classification head from HRNet-Image-Classification, "
          "face variant (stem stride 1 in the second conv, flatten+linear output) from FaceX-Zoo")


@hookimpl
def facex_components() -> list[Component]:
    return [
        Component(kind="backbone", name="hrnet_w18", config=HRNetConfig,
                  factory="facex_backbone_hrnet.hrnet:HRNet",
                  summary="HRNet-W18, FaceX-Zoo face variant: 70.63M params (51.38M in the "
                          "flatten+linear output layer), 4.32 GMACs at 112x112",
                  paper=_PAPER),
    ]
