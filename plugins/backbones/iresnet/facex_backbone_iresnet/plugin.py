"""Registration of the IResNet backbones: config classes and the ``facex_components`` hook.

This module is imported at plugin discovery, so it must stay light: it never imports torch (the
network lives in :mod:`facex_backbone_iresnet.iresnet` and is loaded on build).
"""
from facex_core import Component, config, feature_map_size, hookimpl, option, resolve_map_size

#: IBasicBlocks in the 64-, 128-, 256- and 512-channel stages of each InsightFace variant.
LAYERS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 14, 3), 100: (3, 13, 30, 3),
          200: (6, 26, 60, 6)}


#: Stride-2 steps between the input and the map that ``fc`` flattens: the first block of each of the
#: four stages (3×3 stride-2 conv with padding 1, 1×1 stride-2 downsample), rounding up; the stem
#: keeps the resolution. InsightFace hard-codes the 112×112 case (``fc_scale = 7 * 7``); 60×112
#: (upper half face) gives 4×7.
NUM_HALVINGS = 4


_LAYERS_DOC = ("IBasicBlocks per stage (64/128/256/512 channels): r18 2,2,2,2; r34 3,4,6,3; "
               "r50 3,4,14,3; r100 3,13,30,3; r200 6,26,60,6")


@config
class IResNetConfig:
    """Hyper-parameters of InsightFace's IResNet (``arcface_torch`` ``get_model(name, ...)`` keywords)."""

    layers: tuple[int, int, int, int] = option(LAYERS[50], ge=1, doc=_LAYERS_DOC)
    embedding_size: int = option(
        512, ge=1, doc="length D of the output embedding (InsightFace: num_features / config.embedding_size)")
    dropout: float = option(
        0.0, ge=0, lt=1, doc="dropout on the flattened last map, before fc (InsightFace default 0)")
    input_size: tuple[int, int] = option(
        (112, 112), ge=1, doc="input (H, W); fc sees a ceil(H/16) x ceil(W/16) map (7x7 at 112x112, "
                        "4x7 at 60x112); released checkpoints need 112x112")
    fp16: bool = option(
        False, doc="run the trunk under autocast (float16 on CUDA, bfloat16 on CPU) and fc + "
                   "features in float32, like InsightFace's fp16 flag")

    def __attrs_post_init__(self) -> None:
        if len(self.layers) != 4:
            raise ValueError(f"layers must be 4 block counts >= 1, got {self.layers}")
        resolve_map_size(self.input_size, None, None, NUM_HALVINGS)  # validates input_size

    @property
    def map_size(self) -> tuple[int, int]:
        """``(out_h, out_w)``: the last feature map's size; ``fc`` has ``512 * out_h * out_w`` inputs."""
        return feature_map_size(self.input_size, NUM_HALVINGS)


def _variant(depth: int) -> type:
    """An :class:`IResNetConfig` subclass whose ``layers`` default is that of ``iresnet{depth}``."""
    name = f"IResNet{depth}Config"
    namespace = {
        "__module__": __name__, "__qualname__": name,
        "__doc__": f"Hyper-parameters of InsightFace's IResNet-{depth} (component ``iresnet{depth}``).",
        "__annotations__": {"layers": tuple[int, int, int, int]},
        "layers": option(LAYERS[depth], ge=1, doc=_LAYERS_DOC),
    }
    return config(type(name, (IResNetConfig,), namespace))


IResNet18Config = _variant(18)
IResNet34Config = _variant(34)
IResNet50Config = _variant(50)
IResNet100Config = _variant(100)
IResNet200Config = _variant(200)

_FACTORY = "facex_backbone_iresnet.iresnet:IResNet"
_PAPER = ("J. Deng, J. Guo, N. Xue, S. Zafeiriou. ArcFace: Additive Angular Margin Loss for Deep Face "
          "Recognition. CVPR 2019 (arXiv:1801.07698); network of InsightFace "
          "recognition/arcface_torch/backbones/iresnet.py, whose released backbone.pth files load "
          "with strict=True")

#: (depth, config class, params in millions, GMACs at 112x112), measured with ``facex-core describe``.
_VARIANTS = (
    (18, IResNet18Config, 24.026, 2.61),
    (34, IResNet34Config, 34.139, 4.46),
    (50, IResNet50Config, 43.591, 6.31),
    (100, IResNet100Config, 65.156, 12.09),
    (200, IResNet200Config, 118.834, 23.42),
)


@hookimpl
def facex_components() -> list[Component]:
    return [Component(kind="backbone", name=f"iresnet{depth}", config=cfg, factory=_FACTORY,
                      paper=_PAPER,
                      summary=f"InsightFace IResNet-{depth} (arcface_torch r{depth}, loads its "
                              f"checkpoints): {params_m:.2f}M params, {gmacs:.2f} GMACs at 112x112")
            for depth, cfg, params_m, gmacs in _VARIANTS]
