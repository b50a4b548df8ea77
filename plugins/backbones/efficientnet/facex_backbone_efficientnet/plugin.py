"""Registration of the EfficientNet backbones: config classes and the ``facex_components`` hook.

This module is imported at plugin discovery, so it must stay light: it never imports torch (the
network lives in :mod:`facex_backbone_efficientnet.efficientnet` and is loaded on build).
"""
from typing import ClassVar

from facex_core import Component, FlattenBackboneConfig, config, feature_map_size, hookimpl, option, resolve_map_size

#: EfficientNet-B0's MBConv stages (paper, Table 1): (repeats, kernel, stride, expansion, output
#: channels). The stem (3×3, 32 channels) has stride 1 here (ImageNet: 2), so the four stride-2
#: stages take 112 to 7.
STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)

#: Compound-scaling coefficients (width, depth) of B0 … B7 (paper §3.3; the resolution coefficient
#: is dropped: every variant takes 112×112 faces, as in FaceX-Zoo).
COEFFICIENTS: dict[str, tuple[float, float]] = {
    "b0": (1.0, 1.0), "b1": (1.0, 1.1), "b2": (1.1, 1.2), "b3": (1.2, 1.4),
    "b4": (1.4, 1.8), "b5": (1.6, 2.2), "b6": (1.8, 2.6), "b7": (2.0, 3.1),
}


#: Stride-2 stages between the input and the last feature map. Every convolution uses TensorFlow
#: "same" padding, so each maps ``n`` to ``ceil(n / 2)``: 112 → 56 → 28 → 14 → 7 and
#: 60 → 30 → 15 → 8 → 4.
NUM_HALVINGS = sum(stride == 2 for _, _, stride, _, _ in STAGES)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding ``(before, after)`` of one axis of ``size``: ``ceil(size / stride)``
    outputs, the odd pixel (if any) after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv_output(size: int, kernel: int, stride: int, padding: tuple[int, int]) -> int:
    """Output size of one axis of a convolution of an input ``size`` padded by ``(before, after)``."""
    return (size + padding[0] + padding[1] - kernel) // stride + 1


def facexzoo_map_size(input_size: tuple[int, int], image_size: int) -> tuple[int, int]:
    """The last map's (H, W) of FaceX-Zoo's EfficientNet on an ``input_size`` input when its static
    paddings are computed for ``image_size`` (see :attr:`EfficientNetConfig.facexzoo_image_size`):
    each axis is padded for the size FaceX-Zoo assumes (``image_size`` at the stem, then half of it,
    halved again by each stride), which need not be the real one, so the real sizes follow the
    convolution arithmetic rather than ``ceil(n / 2)``. Only the stem and each stage's first
    depthwise convolution matter: 1×1 and stride-1 convolutions keep the size whatever they assume."""
    def axis(size: int) -> int:
        size = conv_output(size, 3, 1, same_padding(image_size, 3, 1))   # the stride-1 stem
        assumed = -(-image_size // 2)  # FaceX-Zoo halves its bookkeeping after the stem (ImageNet: stride 2)
        for _, kernel, stride, _, _ in STAGES:
            size = conv_output(size, kernel, stride, same_padding(assumed, kernel, stride))
            assumed = -(-assumed // stride)
        return size
    return axis(input_size[0]), axis(input_size[1])


_WIDTH_DOC = "width coefficient: every channel count c becomes c*width rounded to a multiple of 8"
_DEPTH_DOC = "depth coefficient: a stage of r blocks gets ceil(r*depth) blocks"


@config
class EfficientNetConfig(FlattenBackboneConfig):
    """Hyper-parameters of EfficientNet (FaceX-Zoo ``backbone_conf.yaml`` section ``EfficientNet``);
    the defaults are B0."""

    halvings: ClassVar[int] = NUM_HALVINGS

    width: float = option(1.0, gt=0, doc=_WIDTH_DOC)
    depth: float = option(1.0, gt=0, doc=_DEPTH_DOC)
    drop_ratio: float = option(0.2, ge=0, lt=1, doc="dropout before the embedding's linear layer")
    drop_connect: float = option(
        0.2, ge=0, lt=1, doc="stochastic depth: residual block i of n drops its branch with probability "
                             "drop_connect*i/n in training (FaceX-Zoo fixes 0.2)")
    facexzoo_image_size: int = option(
        0, ge=0, doc="0: TensorFlow 'same' padding for the real map sizes; N: every 'same' padding as FaceX-Zoo's "
                     "EfficientNet computes it for its image_size N (for NxN, halved after the stem), to run "
                     "FaceX-Zoo's weights exactly")

    def __attrs_post_init__(self) -> None:
        if not self.facexzoo_image_size:
            super().__attrs_post_init__()
            return
        resolve_map_size(self.input_size, None, None, self.halvings, self.rounding)  # validates input_size
        h, w = self.map_size
        if min(h, w) < 1:
            raise ValueError(f"input_size {tuple(self.input_size)} is too small for paddings computed for "
                             f"facexzoo_image_size={self.facexzoo_image_size}: the last map would be {h}x{w}")
        for key, given, derived in (("out_h", self.out_h, h), ("out_w", self.out_w, w)):
            if given is not None and given != derived:
                raise ValueError(f"{key}={given} does not match input_size {tuple(self.input_size)} padded for "
                                 f"facexzoo_image_size={self.facexzoo_image_size}, whose last feature map is "
                                 f"{h}x{w}; set {key}={derived} or leave it unset")

    @property
    def map_size(self) -> tuple[int, int]:
        """``(out_h, out_w)``: the last feature map's size (``ceil`` halvings of ``input_size``; with
        ``facexzoo_image_size``, FaceX-Zoo's padding arithmetic, :func:`facexzoo_map_size`)."""
        if self.facexzoo_image_size:
            return facexzoo_map_size(self.input_size, self.facexzoo_image_size)
        return feature_map_size(self.input_size, self.halvings, self.rounding)


def _scaled_config(variant: str) -> type:
    """A subclass of :class:`EfficientNetConfig` whose width/depth defaults are ``variant``'s."""
    width, depth = COEFFICIENTS[variant]
    name = f"EfficientNet{variant.upper()}Config"
    body = {
        "__module__": __name__,
        "__qualname__": name,
        "__doc__": f"Hyper-parameters of EfficientNet-{variant.upper()}: width {width}, depth {depth}.",
        "__annotations__": {"width": float, "depth": float},
        "width": option(width, gt=0, doc=_WIDTH_DOC),
        "depth": option(depth, gt=0, doc=_DEPTH_DOC),
    }
    return config(type(name, (EfficientNetConfig,), body))


EfficientNetB0Config = EfficientNetConfig
EfficientNetB1Config = _scaled_config("b1")
EfficientNetB2Config = _scaled_config("b2")
EfficientNetB3Config = _scaled_config("b3")
EfficientNetB4Config = _scaled_config("b4")
EfficientNetB5Config = _scaled_config("b5")
EfficientNetB6Config = _scaled_config("b6")
EfficientNetB7Config = _scaled_config("b7")

#: Config class of each variant.
CONFIGS: dict[str, type] = {
    "b0": EfficientNetB0Config, "b1": EfficientNetB1Config, "b2": EfficientNetB2Config,
    "b3": EfficientNetB3Config, "b4": EfficientNetB4Config, "b5": EfficientNetB5Config,
    "b6": EfficientNetB6Config, "b7": EfficientNetB7Config,
}

#: Measured (``facex-core describe``) params in millions and GMACs at 112×112, D = 512.
_SIZES: dict[str, tuple[float, float]] = {
    "b0": (36.12, 0.42), "b1": (38.63, 0.60), "b2": (43.03, 0.69), "b3": (49.24, 1.00),
    "b4": (62.51, 1.55), "b5": (79.73, 2.41), "b6": (98.54, 3.42), "b7": (128.02, 5.23),
}

_FACTORY = "facex_backbone_efficientnet.efficientnet:EfficientNet"
_PAPER = ("M. Tan, Q. V. Le. EfficientNet: Rethinking Model Scaling for Convolutional Neural "
          "Networks. ICML 2019 (arXiv:1905.11946); FaceX-Zoo layout (stem stride 1, flatten+FC "
          "embedding) without its unused ImageNet classifier _fc (1280*w x 1000 + 1000 params)")


@hookimpl
def facex_components() -> list[Component]:
    components = []
    for variant, cfg in CONFIGS.items():
        width, depth = COEFFICIENTS[variant]
        params, gmacs = _SIZES[variant]
        components.append(Component(
            kind="backbone", name=f"efficientnet_{variant}", config=cfg, factory=_FACTORY,
            summary=f"EfficientNet-{variant.upper()} (width {width}, depth {depth}): {params:.2f}M "
                    f"params, {gmacs:.2f} GMACs at 112x112 (no dead ImageNet classifier)",
            paper=_PAPER))
    return components
