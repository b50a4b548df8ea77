"""Registration of the RepVGG backbones: config classes and the ``facex_components`` hook.

This module is imported at plugin discovery, so it must stay light: it never imports torch (the
network lives in :mod:`facex_backbone_repvgg.repvgg` and is loaded on build).
"""
from typing import Any, ClassVar

from facex_core import Component, FlattenBackboneConfig, config, hookimpl, option

#: Stride-2 steps between the input and the last feature map: the first block of each of the four
#: stages (stage 0 keeps the resolution for faces; ImageNet RepVGG strides there too). A stride-2
#: block's 3×3 (padding 1) and 1×1 (padding 0) branches both map ``n`` to ``ceil(n / 2)``:
#: 112 → 7, 60 → 4.
NUM_HALVINGS = 4

#: (blocks per stage, width multipliers per stage) of the variants, from the RepVGG paper (Table 2).
PRESETS: dict[str, tuple[tuple[int, int, int, int], tuple[float, float, float, float]]] = {
    "a0": ((2, 4, 14, 1), (0.75, 0.75, 0.75, 2.5)),
    "b0": ((4, 6, 16, 1), (1.0, 1.0, 1.0, 2.5)),
    "b1": ((4, 6, 16, 1), (2.0, 2.0, 2.0, 4.0)),
}


_BLOCKS_DOC = ("blocks in stages 1-4, each stage's first with stride 2 "
               "(FaceX-Zoo: block_stage1..4; A: 2,4,14,1, B: 4,6,16,1)")
_WIDTH_DOC = ("width multipliers of stages 1-4 over 64,128,256,512 channels "
              "(FaceX-Zoo: width_stage1..4; A0: 0.75,0.75,0.75,2.5, B0: 1,1,1,2.5, B1: 2,2,2,4)")


def _blocks_option(default: tuple[int, int, int, int]) -> Any:
    return option(default, ge=1, doc=_BLOCKS_DOC)


def _width_option(default: tuple[float, float, float, float]) -> Any:
    return option(default, gt=0, doc=_WIDTH_DOC)


@config
class RepVGGConfig(FlattenBackboneConfig):
    """Hyper-parameters of RepVGG (FaceX-Zoo ``backbone_conf.yaml`` section ``RepVGG``); the
    defaults are RepVGG-B1, FaceX-Zoo's default."""

    halvings: ClassVar[int] = NUM_HALVINGS

    blocks: tuple[int, int, int, int] = _blocks_option(PRESETS["b1"][0])
    width: tuple[float, float, float, float] = _width_option(PRESETS["b1"][1])
    dropout: float = option(
        0.0, ge=0, lt=1, doc="dropout probability before the flatten+linear output layer (FaceX-Zoo has none)")
    deploy: bool = option(
        False, doc="build the inference form: one 3x3 conv with bias per block, as produced by "
                   "RepVGG.reparameterize(); set it to load re-parameterised checkpoints")

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if len(self.blocks) != 4:
            raise ValueError(f"blocks must be 4 counts >= 1, got {self.blocks}")
        if len(self.width) != 4 or min(int(64 * self.width[0]), int(128 * self.width[1]),
                                       int(256 * self.width[2]), int(512 * self.width[3])) < 1:
            raise ValueError(f"width must be 4 multipliers giving >= 1 channel per stage, got {self.width}")


def _variant(name: str) -> type:
    """A :class:`RepVGGConfig` subclass whose ``blocks``/``width`` defaults are preset ``name``'s."""
    blocks, width = PRESETS[name]
    cls = f"RepVGG{name.upper()}Config"
    namespace = {
        "__module__": __name__, "__qualname__": cls,
        "__doc__": f"Hyper-parameters of RepVGG-{name.upper()} (component ``repvgg_{name}``).",
        "__annotations__": {"blocks": tuple[int, int, int, int], "width": tuple[float, float, float, float]},
        "blocks": _blocks_option(blocks), "width": _width_option(width),
    }
    return config(type(cls, (RepVGGConfig,), namespace))


RepVGGA0Config = _variant("a0")
RepVGGB0Config = _variant("b0")
RepVGGB1Config = _variant("b1")

#: Measured (``facex-core describe``, D = 512, 112x112): params in millions in the training form
#: and in the deploy form, GMACs of the training form.
_SIZES: dict[str, tuple[type, float, float, float]] = {
    "a0": (RepVGGA0Config, 39.945, 39.145, 1.54),
    "b0": (RepVGGB0Config, 46.654, 45.175, 3.43),
    "b1": (RepVGGB1Config, 106.752, 101.166, 13.18),
}

_FACTORY = "facex_backbone_repvgg.repvgg:RepVGG"
_PAPER = ("X. Ding, X. Zhang, N. Ma, J. Han, G. Ding, J. Sun. RepVGG: Making VGG-style ConvNets "
          "Great Again. CVPR 2021 (arXiv:2101.03697); layout of FaceX-Zoo backbone/RepVGG.py "
          "(stage 0 stride 1, flatten+FC embedding)")


@hookimpl
def facex_components() -> list[Component]:
    return [
        Component(kind="backbone", name=f"repvgg_{name}", config=cfg, factory=_FACTORY, paper=_PAPER,
                  summary=f"RepVGG-{name.upper()}, FaceX-Zoo layout: {train_m:.2f}M params "
                          f"({deploy_m:.2f}M re-parameterised), {gmacs:.2f} GMACs at 112x112")
        for name, (cfg, train_m, deploy_m, gmacs) in _SIZES.items()
    ]
