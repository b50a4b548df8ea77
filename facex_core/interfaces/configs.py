"""Config bases that component configs extend (torch-free, so plugin registration stays light)."""
from __future__ import annotations

from typing import Any, ClassVar

from ..configs.options import config, option

#: Threshold selection rules of :func:`facex_core.kfold_verification`.
THRESHOLD_RULES = ("exact", "facexzoo", "insightface")

_RULE_DOCS = {"exact": "'exact' (best cut over all training scores)",
              "facexzoo": "'facexzoo' (FaceX-Zoo's 1000-step grid, reproduces its numbers)",
              "insightface": "'insightface' (InsightFace's 0..4 grid on 2 - 2cos, as InsightFace reports)"}


def feature_map_size(input_size: tuple[int, int], halvings: int = 4, rounding: str = "ceil") -> tuple[int, int]:
    """Spatial size of the last map after ``halvings`` stride-2 steps (112 → 7 with four): ``'ceil'``
    for 3×3 stride-2 convolutions with padding 1 (60 → 30 → 15 → 8 → 4), ``'floor'`` for unpadded
    2×2 pooling (60 → 30 → 15 → 7 → 3)."""
    if rounding not in ("ceil", "floor"):
        raise ValueError(f"rounding must be 'ceil' or 'floor', got {rounding!r}")
    h, w = input_size
    for _ in range(halvings):
        h, w = ((h + 1) // 2, (w + 1) // 2) if rounding == "ceil" else (h // 2, w // 2)
    return h, w


def resolve_map_size(input_size: tuple[int, int], out_h: int | None, out_w: int | None,
                     halvings: int = 4, rounding: str = "ceil") -> tuple[int, int]:
    """The last map size for ``input_size``; FaceX-Zoo-style explicit ``out_h``/``out_w`` must agree
    (so a wrong ``out_h`` fails when the config loads, not in ``forward``)."""
    if len(input_size) != 2 or min(input_size) < 1:
        raise ValueError(f"input_size must be two positive integers (H, W), got {tuple(input_size)}")
    h, w = feature_map_size(input_size, halvings, rounding)
    for key, given, derived in (("out_h", out_h, h), ("out_w", out_w, w)):
        if given is not None and given != derived:
            raise ValueError(f"{key}={given} does not match input_size {tuple(input_size)}, whose last "
                             f"feature map is {h}x{w}; set {key}={derived} or leave it unset")
    return h, w


@config
class FlattenBackboneConfig:
    """Embedding size, input size and last-map size of a backbone ending in FaceX-Zoo's flatten+FC layer;
    subclasses that validate more call ``super().__attrs_post_init__()`` first."""

    halvings: ClassVar[int] = 4
    rounding: ClassVar[str] = "ceil"

    embedding_size: int = option(512, doc="Length D of the output embedding (FaceX-Zoo: feat_dim).", ge=1)
    input_size: tuple[int, int] = option((112, 112), doc="Input (H, W); (60, 112) for FaceX-Zoo's upper-half-face crop.",
                                         ge=1)
    out_h: int | None = option(None, doc="Height of the last feature map; derived from input_size when unset "
                                         "(7 at 112, 4 at 60), checked against it when set.", ge=1)
    out_w: int | None = option(None, doc="Width of the last feature map; derived from input_size when unset, "
                                         "checked against it when set.", ge=1)

    def __attrs_post_init__(self) -> None:
        resolve_map_size(self.input_size, self.out_h, self.out_w, self.halvings, self.rounding)

    @property
    def map_size(self) -> tuple[int, int]:
        """``(out_h, out_w)``: the last feature map's size, which the embedding layer flattens."""
        return feature_map_size(self.input_size, self.halvings, self.rounding)


@config
class ClassifierConfig:
    """How a margin head stores and samples its class centres."""

    sample_rate: float = option(1.0, doc="Partial FC: fraction r of each shard's centres per step (all positives "
                                         "are always kept); 1.0 = full FC.",
                                gt=0, le=1)
    sub_centers: int = option(1, doc="K centres per class, cosine = max over them (Sub-center ArcFace); 1 = plain.",
                              ge=1)
    shard: bool = option(True, doc="Under torch.distributed, split the centres across ranks (model parallel) "
                                   "with an exact softmax over all shards.")


@config
class HeadConfig:
    """Fields every classification head has; a head's own config class extends it."""

    num_classes: int = option(doc="Number of training identities (filled from the data when omitted).", ge=1)
    embedding_size: int = option(512, doc="Embedding size D of the backbone (filled from it when omitted).", ge=1)
    classifier: ClassifierConfig = option(factory=ClassifierConfig,
                                          doc="Class centres: full FC, Partial FC (sample_rate < 1), sub-centres.")


def threshold_rule_option(default: str = "exact") -> Any:
    """A validated ``threshold_rule`` config field; the error lists the default rule first."""
    rules = (default, *(r for r in THRESHOLD_RULES if r != default))
    return option(default, choices=rules, doc=", ".join(_RULE_DOCS[r] for r in rules))
