"""Registration of the ResNet IR / IR-SE backbones: config classes and the ``facex_components`` hook.

This module is imported at plugin discovery, so it must stay light: it never imports torch (the
network lives in :mod:`facex_backbone_resnet.resnet` and is loaded on build).
"""
from typing import Any, ClassVar

from facex_core import Component, FlattenBackboneConfig, config, hookimpl, option

#: Residual units in the 64-, 128-, 256- and 512-channel stages, for each depth FaceX-Zoo accepts.
UNITS = {50: (3, 4, 14, 3), 100: (3, 13, 30, 3), 152: (3, 8, 36, 3)}
#: Unit types: plain improved-residual units, or the same with squeeze-excitation at the branch end.
MODES = ("ir", "ir_se")
#: Stages whose first unit halves the resolution (all four; the stem keeps it). That unit has a 3×3
#: stride-2 convolution with padding 1 and a stride-2 shortcut, both taking a side ``n`` to
#: ``ceil(n / 2)``: 112 → 7, 60 → 4.
NUM_HALVINGS = 4


_DEPTH_DOC = "50, 100 or 152: units per stage 3,4,14,3 / 3,13,30,3 / 3,8,36,3 (FaceX-Zoo: depth)"
_MODE_DOC = "'ir' (improved residual unit) or 'ir_se' (with squeeze-excitation) (FaceX-Zoo: net_mode)"


def _depth_option(default: int) -> Any:
    return option(default, choices=sorted(UNITS), doc=_DEPTH_DOC)


def _mode_option(default: str) -> Any:
    return option(default, choices=MODES, doc=_MODE_DOC)


@config
class ResNetConfig(FlattenBackboneConfig):
    """Hyper-parameters of FaceX-Zoo's ResNet IR / IR-SE (``backbone_conf.yaml`` section ``ResNet``)."""

    halvings: ClassVar[int] = NUM_HALVINGS

    depth: int = _depth_option(50)
    mode: str = _mode_option("ir")
    dropout: float = option(
        0.4, doc="dropout probability between the last BatchNorm2d and the flatten+linear output "
                 "layer (FaceX-Zoo: drop_ratio)",
        ge=0, lt=1)
    units: tuple[int, int, int, int] | None = option(
        None, ge=1, doc="residual units per stage, overriding depth (e.g. [1, 1, 1, 1] for a small "
                  "test network); unset = taken from depth")

    def __attrs_post_init__(self) -> None:
        if self.units is not None and len(self.units) != 4:
            raise ValueError(f"units must be 4 counts >= 1, got {self.units}")
        super().__attrs_post_init__()

    @property
    def stage_units(self) -> tuple[int, int, int, int]:
        """Residual units in each of the four stages: ``units`` if given, else those of ``depth``."""
        return tuple(self.units) if self.units is not None else UNITS[self.depth]


def _variant(depth: int, mode: str) -> type:
    """A :class:`ResNetConfig` subclass whose ``depth`` and ``mode`` defaults name one variant."""
    suffix = "IRSE" if mode == "ir_se" else "IR"
    name = f"ResNet{depth}{suffix}Config"
    namespace = {
        "__module__": __name__, "__qualname__": name,
        "__doc__": f"Hyper-parameters of ResNet-{depth} {suffix.replace('IRSE', 'IR-SE')} "
                   f"(component ``resnet{depth}_{mode.replace('_', '')}``).",
        "__annotations__": {"depth": int, "mode": str},
        "depth": _depth_option(depth), "mode": _mode_option(mode),
    }
    return config(type(name, (ResNetConfig,), namespace))


ResNet50IRConfig = _variant(50, "ir")
ResNet50IRSEConfig = _variant(50, "ir_se")
ResNet100IRConfig = _variant(100, "ir")
ResNet100IRSEConfig = _variant(100, "ir_se")
ResNet152IRConfig = _variant(152, "ir")
ResNet152IRSEConfig = _variant(152, "ir_se")

_FACTORY = "facex_backbone_resnet.resnet:ResNet"
_PAPER = ("J. Deng, J. Guo, N. Xue, S. Zafeiriou. ArcFace: Additive Angular Margin Loss for Deep Face "
          "Recognition. CVPR 2019 (arXiv:1801.07698), improved residual unit; IR-SE adds J. Hu et al. "
          "Squeeze-and-Excitation Networks, CVPR 2018. Layout and parameter counts of FaceX-Zoo "
          "backbone/ResNets.py (from TreB1eN/InsightFace_Pytorch); SE and output-layer keys renamed "
          "(resnet.convert_facexzoo_state_dict maps them), embedding returned without L2 norm")

#: (config class, params in millions, GMACs at 112x112), measured with ``facex-core describe``.
_VARIANTS = (
    (ResNet50IRConfig, 43.575, 6.30),
    (ResNet50IRSEConfig, 43.798, 6.30),
    (ResNet100IRConfig, 65.130, 12.08),
    (ResNet100IRSEConfig, 65.502, 12.08),
    (ResNet152IRConfig, 70.738, 12.31),
    (ResNet152IRSEConfig, 71.149, 12.31),
)


@hookimpl
def facex_components() -> list[Component]:
    components = []
    for cfg, params_m, gmacs in _VARIANTS:
        defaults = cfg()
        label = "IR-SE" if defaults.mode == "ir_se" else "IR"
        components.append(Component(
            kind="backbone", name=f"resnet{defaults.depth}_{defaults.mode.replace('_', '')}",
            config=cfg, factory=_FACTORY, paper=_PAPER,
            summary=f"FaceX-Zoo ResNet-{defaults.depth} {label}: {params_m:.2f}M params, "
                    f"{gmacs:.2f} GMACs at 112x112"))
    return components
