"""Registration of the LightCNN backbones: config classes and the ``facex_components`` hook.

Imported at plugin discovery, so it stays light: no torch here (the network lives in
:mod:`facex_backbone_lightcnn.lightcnn` and is imported only when a model is built).
"""
from typing import ClassVar

from facex_core import Component, FlattenBackboneConfig, config, hookimpl, option

#: 2×2 stride-2 poolings: after conv1, group1, group2 and group4. They round odd sides up
#: (``ceil_mode``): 112 → 56 → 28 → 14 → 7 and 60 → 30 → 15 → 8 → 4.
NUM_POOLS = 4
#: How each pooling step combines its windows: FaceX-Zoo's LightCNN-29 v2 adds a max-pool and an
#: average-pool; the paper's 9-layer network max-pools.
POOLINGS = ("max+avg", "max")


@config
class LightCNNConfig(FlattenBackboneConfig):
    """Hyper-parameters of LightCNN (FaceX-Zoo ``backbone_conf.yaml`` section ``LightCNN``); the
    default is LightCNN-29 v2, FaceX-Zoo's ``depth: 29``."""

    halvings: ClassVar[int] = NUM_POOLS

    dropout: float = option(
        0.2, ge=0, lt=1, doc="dropout between the output BatchNorm2d and the linear layer "
                             "(FaceX-Zoo: dropout_ratio)")
    blocks: tuple[int, int, int, int] = option(
        (1, 2, 3, 4), ge=0, doc="MFM residual blocks before group1..group4 (1,2,3,4 = 29 layers, "
                                "0,0,0,0 = the 9-layer network); depth = 9 + 2*sum(blocks)")
    pooling: str = option(
        "max+avg", choices=POOLINGS, doc="each downsampling step: 'max+avg' (sum of 2x2 max- and "
                                         "average-pool, LightCNN-29 v2) or 'max' (2x2 max-pool, LightCNN-9)")
    channels: tuple[int, int, int, int, int] = option(
        (48, 96, 192, 128, 128), ge=1, doc="MFM output channels of conv1 and of group1..group4 (each "
                                           "convolution computes twice as many, MFM keeps the max of pairs)")

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if len(self.blocks) != 4:
            raise ValueError(f"blocks must be 4 counts >= 0, got {self.blocks}")
        if len(self.channels) != 5:
            raise ValueError(f"channels must be 5 counts >= 1, got {self.channels}")

    @property
    def depth(self) -> int:
        """Weight layers: conv1 + 2 per group + 2 per residual block (fc layers not counted)."""
        return 1 + 2 * NUM_POOLS + 2 * sum(self.blocks)


@config
class LightCNN9Config(LightCNNConfig):
    """LightCNN-9: the paper's 9-layer network (no residual blocks, max-pooling)."""

    blocks: tuple[int, int, int, int] = option(
        (0, 0, 0, 0), ge=0, doc="MFM residual blocks before group1..group4 (0,0,0,0 = the 9-layer "
                                "network, 1,2,3,4 = 29 layers); depth = 9 + 2*sum(blocks)")
    pooling: str = option(
        "max", choices=POOLINGS, doc="each downsampling step: 'max' (2x2 max-pool, LightCNN-9) or 'max+avg' "
                                     "(sum of 2x2 max- and average-pool, LightCNN-29 v2)")


_FACTORY = "facex_backbone_lightcnn.lightcnn:LightCNN"
_PAPER = ("X. Wu, R. He, Z. Sun, T. Tan. A Light CNN for Deep Face Representation with Noisy Labels. "
          "IEEE TIFS 13(11), 2018 (arXiv:1511.02683); face layout (3-channel input, BN2d-dropout-"
          "flatten-linear-BN1d output layer) from FaceX-Zoo")


@hookimpl
def facex_components() -> list[Component]:
    return [
        Component(kind="backbone", name="lightcnn29", config=LightCNNConfig, factory=_FACTORY,
                  summary="LightCNN-29 v2 (Max-Feature-Map), FaceX-Zoo layout: 11.60M params, "
                          "2.83 GMACs at 112x112", paper=_PAPER),
        Component(kind="backbone", name="lightcnn9", config=LightCNN9Config, factory=_FACTORY,
                  summary="LightCNN-9 (Max-Feature-Map), the paper's 9 layers with FaceX-Zoo's output "
                          "layer (FaceX-Zoo's own fails to build): 4.50M params, 0.81 GMACs at 112x112",
                  paper=_PAPER),
    ]
