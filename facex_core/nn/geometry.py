"""Feature-map sizes of backbones, computed without torch (config classes use them at discovery)."""
from __future__ import annotations


def feature_map_size(input_size: tuple[int, int], halvings: int = 4, rounding: str = "ceil") -> tuple[int, int]:
    """Spatial size of the last map after ``halvings`` stride-2 steps (112 → 7 with four).

    ``rounding='ceil'`` models 3×3 stride-2 convolutions with padding 1 (60 → 30 → 15 → 8 → 4),
    ``'floor'`` unpadded 2×2 pooling (60 → 30 → 15 → 7 → 3).
    """
    if rounding not in ("ceil", "floor"):
        raise ValueError(f"rounding must be 'ceil' or 'floor', got {rounding!r}")
    h, w = input_size
    for _ in range(halvings):
        h, w = ((h + 1) // 2, (w + 1) // 2) if rounding == "ceil" else (h // 2, w // 2)
    return h, w


def resolve_map_size(input_size: tuple[int, int], out_h: int | None, out_w: int | None,
                     halvings: int = 4, rounding: str = "ceil") -> tuple[int, int]:
    """The last map size for ``input_size``; FaceX-Zoo-style explicit ``out_h``/``out_w`` must agree.

    Raises ValueError naming the key, so a config such as ``out_h = 7`` with a 60-row input fails
    when it is loaded rather than as a shape error in the first forward pass.
    """
    if len(input_size) != 2 or min(input_size) < 1:
        raise ValueError(f"input_size must be two positive integers (H, W), got {tuple(input_size)}")
    h, w = feature_map_size(input_size, halvings, rounding)
    for key, given, derived in (("out_h", out_h, h), ("out_w", out_w, w)):
        if given is not None and given != derived:
            raise ValueError(f"{key}={given} does not match input_size {tuple(input_size)}, whose last "
                             f"feature map is {h}x{w}; set {key}={derived} or leave it unset")
    return h, w
