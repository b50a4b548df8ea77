"""FMA-3D's template augmentations (FaceX-Zoo ``face_masker.py``), drawn from a per-image generator.

Every draw is made whatever the outcome of the coin flips, in a fixed order, so the generator's
state after augmentation — and therefore the whole masked image — depends on the seed only.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from .mesh import UV_SIZE


def draw(rng: np.random.Generator, cfg: Any) -> dict[str, Any]:
    """The augmentation parameters for one image (JSON-serialisable; all off when ``cfg.augment`` is False).

    ``flip`` bool; ``shrink`` [x, y] texel offsets or None; ``erode`` iterations (0 = none);
    ``contrast`` the colour factor or None.
    """
    coins = rng.random(4)
    offsets = rng.integers(0, cfg.shrink_max, size=2)
    iterations = int(rng.integers(0, cfg.erode_max + 1))
    low, high = cfg.contrast_range
    factor = float(low + (high - low) * rng.random())
    if not cfg.augment:
        return {"flip": False, "shrink": None, "erode": 0, "contrast": None}
    return {"flip": bool(coins[0] < cfg.flip_p),
            "shrink": [int(offsets[0]), int(offsets[1])] if coins[1] < cfg.shrink_p else None,
            "erode": iterations if coins[2] < cfg.erode_p else 0,
            "contrast": round(factor, 6) if coins[3] < cfg.contrast_p else None}


def apply(template: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """The augmented BGRA template: flip, shrink towards the centre, erode alpha, scale colour."""
    out = np.array(template, copy=True)
    if params.get("flip"):
        out = out[:, ::-1].copy()
    if params.get("shrink"):
        dx, dy = params["shrink"]
        if dx or dy:  # FMA-3D resizes the whole texture into the centred (256-2dx)×(256-2dy) box
            small = cv2.resize(out, (UV_SIZE - 2 * dx, UV_SIZE - 2 * dy), interpolation=cv2.INTER_LINEAR)
            out = np.zeros_like(out)
            out[dy:UV_SIZE - dy, dx:UV_SIZE - dx] = small
    if params.get("erode"):
        out[..., 3] = cv2.erode(out[..., 3], np.ones((5, 5), np.uint8), iterations=int(params["erode"]))
    if params.get("contrast") is not None:
        out[..., :3] = np.clip(np.round(out[..., :3] * float(params["contrast"])), 0, 255).astype(np.uint8)
    return out
