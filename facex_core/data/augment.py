"""Training-time augmentation of aligned face crops, reproducible from a per-sample seed (derived from
experiment seed, epoch and position: an epoch is identical whatever the worker count and after a resume)."""
from __future__ import annotations

import cv2
import numpy as np

from ..configs.options import config, option


@config
class AugmentConfig:
    """The ``[data.augment]`` table; every probability defaults to 0 (FaceX-Zoo: flip only)."""

    crop_resize: float = option(0.0, doc="Probability of a random crop (up to crop_max_offset px per side) resized back.", ge=0, le=1)
    crop_max_offset: int = option(9, doc="Largest crop offset in pixels at 112 px (scaled with the image width).", ge=1)
    rotation: float = option(0.0, doc="Probability of a rotation by a random integer angle in ±rotation_degrees.", ge=0, le=1)
    rotation_degrees: float = option(10.0, doc="Largest rotation angle.", ge=0, le=180)
    grayscale: float = option(0.0, doc="Probability of converting to grey (kept as 3 equal channels).", ge=0, le=1)
    color_jitter: float = option(0.0, doc="Probability of random brightness/contrast/saturation changes.", ge=0, le=1)
    jitter_strength: float = option(0.2, doc="Largest relative brightness, contrast and saturation change.", ge=0, lt=1)
    blur: float = option(0.0, doc="Probability of a Gaussian blur (sigma 0.5–1.5).", ge=0, le=1)
    downscale: float = option(0.0, doc="Probability of down-scaling to 1/4–1/2 and back (low-resolution probes).", ge=0, le=1)
    erase: float = option(0.0, doc="Probability of random erasing (a rectangle of 2–20% of the area, random colour).", ge=0, le=1)

    @property
    def active(self) -> bool:
        """Whether any transform has a probability above 0."""
        return any(v > 0 for v in (self.crop_resize, self.rotation, self.grayscale, self.color_jitter, self.blur,
                                   self.downscale, self.erase))


def augment(img: np.ndarray, cfg: AugmentConfig, seed: int) -> np.ndarray:
    """Apply ``cfg`` to a BGR uint8 image with randomness fixed by ``seed``."""
    rng = np.random.default_rng(seed)
    u = rng.random(7)  # one draw per transform, always taken, so adding one never shifts the others
    h, w = img.shape[:2]
    if u[0] < cfg.crop_resize:
        k = max(1, round(cfg.crop_max_offset * w / 112))  # the reference's 9 px are for 112-px crops
        x1, y1 = rng.integers(0, k, 2)
        x2, y2 = w - rng.integers(0, k), h - rng.integers(0, k)
        img = cv2.resize(img[y1:y2, x1:x2], (w, h), interpolation=cv2.INTER_LINEAR)
    if u[1] < cfg.rotation:
        angle = float(rng.integers(-int(cfg.rotation_degrees), int(cfg.rotation_degrees) + 1))
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        img = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT_101)
    if u[2] < cfg.color_jitter:
        s = cfg.jitter_strength
        b, c, sat = 1 + rng.uniform(-s, s, 3)
        f = img.astype(np.float32) * b
        f = (f - f.mean()) * c + f.mean()
        grey = f.mean(axis=2, keepdims=True)
        img = np.clip(grey + (f - grey) * sat, 0, 255).astype(np.uint8)
    if u[3] < cfg.grayscale:
        img = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    if u[4] < cfg.blur:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.5, 1.5)))
    if u[5] < cfg.downscale:
        f = float(rng.uniform(0.25, 0.5))
        small = cv2.resize(img, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_AREA)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if u[6] < cfg.erase:
        area = rng.uniform(0.02, 0.2) * h * w
        aspect = np.exp(rng.uniform(np.log(0.3), np.log(3.3)))
        eh, ew = min(h, int(round(np.sqrt(area * aspect)))), min(w, int(round(np.sqrt(area / aspect))))
        y, x = rng.integers(0, h - eh + 1), rng.integers(0, w - ew + 1)
        img = img.copy()
        img[y:y + eh, x:x + ew] = rng.integers(0, 256, 3, dtype=np.uint8)
    return np.ascontiguousarray(img)
