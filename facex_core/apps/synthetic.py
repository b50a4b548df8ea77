"""Procedural synthetic face-identity data: a smoke test for the pipeline, NOT a benchmark.

Every image written here is a cartoon face drawn with OpenCV primitives; no real person is shown and no
real data set is used. The data exists so that a new user can run training and LFW-style evaluation end
to end in minutes without downloading or licensing anything. Accuracy on it says only that the code
paths work (a model learns *something*); it says nothing about how a model does on real faces.

What the generator encodes:

* identity -- stable geometry and colour: face shape (axes, squareness, jaw taper, forehead width), eye
  placement, size, tilt and iris colour, brows, nose, mouth and lips, ears, skin tone, hair colour,
  hairline, volume and length, and optional moles, beards, moustaches and glasses;
* per-image nuisance -- a pose-like affine warp (rotation, scale, shift, shear) plus a yaw/pitch shift of
  the inner features, expression (smile, mouth opening, brow raise, eye openness, gaze), a lighting
  gradient with gain and colour cast, background colour and texture, clothing, blur, sensor noise and
  JPEG compression.

Output is deterministic: identity ``i`` under ``seed`` always looks the same, and image ``k`` of it is
always the same bytes, however many worker processes render it and in whatever order.

The written layout uses the real formats, so the same commands work on real data:

* ``train/images/id_00017/0003.jpg`` and ``train/train_list.txt`` (FaceX-Zoo list: ``path label``);
* ``test/images/Synth_Person_0042/Synth_Person_0042_0001.jpg``, ``test/pairs.txt`` (LFW ``pairs.txt``)
  and ``test/image_list.txt``;
* ``synthetic.json`` recording the config, the counts and the format version.
"""
from __future__ import annotations

import functools
import json
import math
import multiprocessing
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Sequence

import attrs
import cv2
import numpy as np

from ..errors import ConfigError
from ..data.image import encode_image
from ..runtime.files import write_atomic as write_bytes_atomic
from ..configs.options import config, option

#: Version of the on-disk layout and of the drawing code; bump it when either changes the bytes.
FORMAT_VERSION = 1
#: Test identities use global identity indices from here on, so they never coincide with training ones.
TEST_IDENTITY_OFFSET = 1_000_000
#: File name of the metadata record written in the output folder.
META_NAME = "synthetic.json"

_TAG_IDENTITY = 1  # first word after the seed in each random stream, so streams never collide
_TAG_NUISANCE = 2
_TAG_PAIRS = 3
_SUPERSAMPLE = 2  # faces are drawn at this multiple of the output size, then area-downscaled
_SHIFT = 4  # fixed-point bits for OpenCV drawing coordinates
_ONE = float(1 << _SHIFT)


class SyntheticDataError(ConfigError):
    """The synthetic data config is infeasible, or the output folder holds data made differently."""


def _int_at_least(low: int, high: int | None = None) -> Callable[[Any, Any, Any], None]:
    def check(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{attribute.name}: expected an integer, got {type(value).__name__} {value!r}")
        if value < low or (high is not None and value > high):
            bound = f">= {low}" if high is None else f"in {low}..{high}"
            raise ValueError(f"{attribute.name}: must be {bound}, got {value}")
    return check


@config
class SyntheticConfig:
    """How much synthetic data to draw and how (a smoke-test data set, not a benchmark)."""

    train_identities: int = option(200, doc="Number of training identities (classes).",
                                   validator=_int_at_least(1, TEST_IDENTITY_OFFSET))
    train_images_per_identity: int = option(20, doc="Images drawn per training identity.",
                                            validator=_int_at_least(1))
    shallow: bool = option(False, doc="Shallow data: exactly two images per training identity (the regime "
                                      "Semi-Siamese Training is made for); overrides train_images_per_identity.")
    test_identities: int = option(120, doc="Number of test identities, disjoint from the training ones.",
                                  validator=_int_at_least(2))
    test_images_per_identity: int = option(4, doc="Images drawn per test identity (at least 2).",
                                           validator=_int_at_least(2))
    pairs_per_fold: int = option(60, doc="Verification pairs per fold, half positive and half negative (even).",
                                 validator=_int_at_least(2))
    folds: int = option(10, doc="Number of LFW-style folds; each test identity appears in one fold only.",
                        validator=_int_at_least(1))
    seed: int = option(0, doc="Seed of every random choice; same seed, same bytes.",
                       validator=_int_at_least(0))
    image_size: int = option(112, doc="Side of the square images in pixels.",
                             validator=_int_at_least(32, 1024))
    jpeg_quality: int = option(95, doc="JPEG quality of the written images (1-100).",
                               validator=_int_at_least(1, 100))

    @property
    def images_per_train_identity(self) -> int:
        """Images drawn per training identity once ``shallow`` is applied."""
        return 2 if self.shallow else self.train_images_per_identity


# --------------------------------------------------------------------------------------------------
# parameters
# --------------------------------------------------------------------------------------------------

Color = tuple[float, float, float]


@attrs.frozen(kw_only=True)
class IdentityParams:
    """The stable look of one synthetic identity. Lengths are fractions of the image side."""

    face_a: float  # half-width of the face
    face_b: float  # half-height of the face
    face_cy: float  # vertical offset of the face centre from the image centre
    face_square: float  # superellipse exponent: 2 is an ellipse, larger is squarer
    jaw_taper: float  # how much the lower face narrows towards the chin
    forehead: float  # width factor of the top of the head
    skin: Color
    blush: float  # alpha of cheek blush (0: none)
    hair: Color
    hair_volume: float  # how far hair stands off the skull
    hairline: float  # hairline height, in face half-heights from the face centre (negative: up)
    hair_tilt: float  # slope of the hairline (a side parting)
    widow_peak: float  # dip of the hairline at the middle, in face half-heights
    temple_drop: float  # how far hair comes down at the temples, in face half-heights
    hair_length: float  # how far hair behind the face reaches down, in face half-heights
    bald: bool
    hair_seed: int  # placement of the drawn hair strands
    ear_y: float
    ear_w: float
    ear_h: float
    eye_y: float  # eye line below the face centre
    eye_dx: float  # half the distance between eye centres
    eye_w: float  # half-width of an eye
    eye_h: float  # eye half-height as a fraction of its half-width
    eye_tilt: float  # degrees; positive lifts the outer corners
    iris: Color
    iris_r: float  # iris radius as a fraction of the eye half-width
    lid_crease: bool
    brow_gap: float  # brow height above the top of the eye
    brow_thick: float
    brow_len: float  # brow half-length as a multiple of the eye half-width
    brow_arch: float
    brow_tilt: float  # positive lifts the outer ends
    brow_color: Color
    nose_len: float  # nose tip below the eye line
    nose_w: float  # half-width of the nose base
    nose_bridge: int  # 0: no bridge line, 1: one side, 2: both sides
    mouth_gap: float  # mouth line below the nose tip
    mouth_w: float  # half-width of the mouth
    lip_upper: float
    lip_lower: float
    lip_color: Color
    cupid: float  # depth of the cupid's bow as a fraction of the upper lip
    mole: tuple[float, float, float]  # x, y (face units) and radius; radius 0 means none
    beard: float  # alpha of the beard (0: none)
    moustache: float  # moustache thickness (0: none)
    glasses: int  # 0: none, 1: round, 2: rectangular
    glasses_color: Color
    neck_w: float


@attrs.frozen(kw_only=True)
class NuisanceParams:
    """Everything that changes between two images of one identity."""

    rotation: float  # degrees
    scale: float
    shift: tuple[float, float]  # fractions of the image side
    shear: float
    yaw: float  # horizontal shift of the inner features, fraction of the image side
    pitch: float  # vertical shift of the inner features
    smile: float  # -1 (frown) .. 1 (smile)
    mouth_open: float  # 0 .. 1
    brow_raise: float  # fraction of the image side, positive is up
    eye_open: float  # 0 (closed) .. ~1.15
    gaze: tuple[float, float]  # iris offset as a fraction of the eye half-width
    light_angle: float  # radians
    light_strength: float  # relative brightness change across the image
    gain: float
    cast: Color  # per-channel multipliers
    background: Color
    background_kind: int  # 0: smooth blotches, 1: stripes, 2: shapes
    background_contrast: float
    clothes: Color
    blur: float  # Gaussian sigma in output pixels (0: none)
    noise: float  # Gaussian noise sigma in grey levels
    texture_seed: int  # seeds the background texture and the sensor noise


def _rng(*words: int) -> np.random.Generator:
    return np.random.default_rng([int(w) for w in words])


def _color(values: Any) -> Color:
    """Three numbers clipped to 0..255 as a BGR float triple."""
    b, g, r = (float(min(255.0, max(0.0, float(v)))) for v in values)
    return (b, g, r)


def _mix(c1: Sequence[float], c2: Sequence[float], t: float) -> Color:
    return _color(a + (b - a) * t for a, b in zip(c1, c2))


def _scaled(c: Sequence[float], f: float) -> Color:
    return _color(v * f for v in c)


_SKIN_DARK = (40.0, 62.0, 100.0)
_SKIN_LIGHT = (180.0, 200.0, 238.0)
_HAIR = [(20.0, 22.0, 25.0), (25.0, 40.0, 60.0), (40.0, 70.0, 110.0), (80.0, 140.0, 190.0),
         (30.0, 60.0, 150.0), (150.0, 150.0, 155.0), (215.0, 215.0, 220.0)]
_HAIR_P = [0.27, 0.22, 0.16, 0.12, 0.08, 0.09, 0.06]
_IRIS = [(30.0, 55.0, 90.0), (20.0, 32.0, 50.0), (150.0, 110.0, 60.0), (80.0, 125.0, 85.0),
         (125.0, 125.0, 115.0), (50.0, 100.0, 120.0)]


def sample_identity(seed: int, index: int) -> IdentityParams:
    """The look of identity ``index`` under ``seed`` (drawn from ``default_rng([seed, tag, index])``).

    Training identity ``i`` is index ``i``; test identity ``j`` is index ``TEST_IDENTITY_OFFSET + j``.
    """
    r = _rng(seed, _TAG_IDENTITY, index)
    u = r.uniform
    face_a = u(0.25, 0.32)
    face_b = u(0.33, 0.40)
    skin_t = r.beta(1.6, 1.4)
    skin = _mix(_SKIN_DARK, _SKIN_LIGHT, skin_t)
    skin = _color(np.asarray(skin) + r.normal(0, 8, 3))
    hair_i = int(r.choice(len(_HAIR), p=_HAIR_P))
    hair = _color(v * u(0.85, 1.15) + r.normal(0, 6) for v in _HAIR[hair_i])
    bald = bool(r.random() < 0.08)
    iris = _color(v + r.normal(0, 8) for v in _IRIS[int(r.integers(len(_IRIS)))])
    brow_src = hair if hair_i not in (5, 6) or r.random() < 0.5 else _HAIR[1]
    lip_mix = u(0.2, 0.55)
    has_mole = r.random() < 0.35
    mole = (float(u(-0.65, 0.65)), float(u(-0.15, 0.6)), float(u(0.004, 0.008))) if has_mole else (0.0, 0.0, 0.0)
    beard = float(u(0.45, 0.9)) if r.random() < 0.18 else 0.0
    moustache = float(u(0.008, 0.018)) if r.random() < 0.22 else 0.0
    glasses = int(r.choice(3, p=[0.82, 0.09, 0.09]))
    return IdentityParams(
        face_a=float(face_a), face_b=float(face_b), face_cy=float(u(-0.04, 0.0)),
        face_square=float(u(2.0, 3.2)), jaw_taper=float(u(0.0, 0.38)), forehead=float(u(0.88, 1.04)),
        skin=skin, blush=float(u(0.1, 0.3)) if r.random() < 0.35 else 0.0,
        hair=hair, hair_volume=float(u(0.005, 0.07)) if not bald else float(u(0.0, 0.01)),
        hairline=float(u(-0.72, -0.38)) if not bald else -1.2, hair_tilt=float(u(-0.35, 0.35)),
        widow_peak=float(u(0.0, 0.15)) if r.random() < 0.35 else 0.0,
        temple_drop=float(u(0.15, 0.7)) if not bald else float(u(1.0, 1.5)),
        hair_length=float(u(0.0, 1.6)) if not bald else 0.0, bald=bald,
        hair_seed=int(r.integers(2**31 - 1)),
        ear_y=float(u(-0.02, 0.05)), ear_w=float(u(0.025, 0.045)), ear_h=float(u(0.055, 0.085)),
        eye_y=float(face_b * u(-0.2, 0.0)), eye_dx=float(face_a * u(0.36, 0.48)), eye_w=float(u(0.044, 0.066)),
        eye_h=float(u(0.38, 0.62)), eye_tilt=float(u(-9.0, 9.0)), iris=iris,
        iris_r=float(u(0.38, 0.52)), lid_crease=bool(r.random() < 0.5),
        brow_gap=float(u(0.018, 0.05)), brow_thick=float(u(0.008, 0.024)), brow_len=float(u(1.0, 1.45)),
        brow_arch=float(u(0.0, 0.022)), brow_tilt=float(u(-0.015, 0.02)),
        brow_color=_scaled(brow_src, u(0.6, 0.85)),
        nose_len=float(face_b * u(0.3, 0.45)), nose_w=float(u(0.026, 0.05)), nose_bridge=int(r.integers(3)),
        mouth_gap=float(face_b * u(0.13, 0.22)), mouth_w=float(u(0.05, 0.088)),
        lip_upper=float(u(0.006, 0.014)), lip_lower=float(u(0.008, 0.02)),
        lip_color=_mix(_scaled(skin, 0.9), (80.0, 70.0, 175.0), lip_mix), cupid=float(u(0.0, 0.6)),
        mole=mole, beard=beard, moustache=moustache, glasses=glasses,
        glasses_color=_mix((15.0, 15.0, 15.0), r.uniform(20, 200, 3), float(u(0, 1))),
        neck_w=float(face_a * u(0.45, 0.65)),
    )


def sample_nuisance(seed: int, identity: int, image: int) -> NuisanceParams:
    """The per-image variation of image ``image`` of identity ``identity`` under ``seed``."""
    r = _rng(seed, _TAG_NUISANCE, identity, image)
    u = r.uniform
    mouth_open = float(u(0.0, 1.0)) if r.random() < 0.35 else 0.0
    eye_open = float(u(0.0, 0.15)) if r.random() < 0.05 else float(u(0.45, 1.15))
    return NuisanceParams(
        rotation=float(np.clip(r.normal(0, 7.0), -18, 18)), scale=float(u(0.9, 1.1)),
        shift=(float(np.clip(r.normal(0, 0.035), -0.08, 0.08)), float(np.clip(r.normal(0, 0.03), -0.07, 0.07))),
        shear=float(u(-0.08, 0.08)), yaw=float(u(-0.035, 0.035)), pitch=float(r.normal(0, 0.01)),
        smile=float(u(-0.5, 1.0)), mouth_open=mouth_open, brow_raise=float(u(-0.006, 0.014)),
        eye_open=eye_open, gaze=(float(u(-0.3, 0.3)), float(u(-0.12, 0.12))),
        light_angle=float(u(0, 2 * math.pi)), light_strength=float(u(0.0, 0.5)), gain=float(u(0.7, 1.2)),
        cast=_color(np.clip(1 + r.normal(0, 0.07, 3), 0.8, 1.2)),
        background=_color(r.uniform(20, 235, 3)),
        background_kind=int(r.integers(3)), background_contrast=float(u(0.05, 0.35)),
        clothes=_color(r.uniform(10, 245, 3)),
        blur=float(u(0.3, 1.3)) if r.random() < 0.6 else 0.0, noise=float(u(1.0, 7.0)),
        texture_seed=int(r.integers(2**31 - 1)),
    )


# --------------------------------------------------------------------------------------------------
# drawing
# --------------------------------------------------------------------------------------------------

class _Canvas:
    """A BGR canvas with a margin; points are given in image-side units around the face centre."""

    def __init__(self, side: int, background: np.ndarray) -> None:
        self.side = side  # the drawing scale (output side × supersampling)
        self.img = background
        self.origin = np.array([background.shape[1] / 2.0, background.shape[0] / 2.0])

    def px(self, pts: Any) -> np.ndarray:
        """Units → fixed-point pixel coordinates (int32, ``_SHIFT`` fractional bits)."""
        p = np.asarray(pts, dtype=np.float64).reshape(-1, 2) * self.side + self.origin
        return np.round(p * _ONE).astype(np.int32)

    def fpx(self, pts: Any) -> np.ndarray:
        return (np.asarray(pts, dtype=np.float64).reshape(-1, 2) * self.side + self.origin).astype(np.float32)

    def thick(self, t: float) -> int:
        return max(1, int(round(t * self.side)))

    def poly(self, pts: Any, color: Color, img: np.ndarray | None = None) -> None:
        cv2.fillPoly(self.img if img is None else img, [self.px(pts)], color, cv2.LINE_AA, _SHIFT)

    def line(self, pts: Any, color: Color, t: float, closed: bool = False) -> None:
        cv2.polylines(self.img, [self.px(pts)], closed, color, self.thick(t), cv2.LINE_AA, _SHIFT)

    def ellipse(self, c: tuple[float, float], axes: tuple[float, float], color: Color, angle: float = 0.0,
                start: float = 0.0, end: float = 360.0, t: float = -1.0, img: np.ndarray | None = None) -> None:
        center = tuple(int(v) for v in self.px([c])[0])
        ax = tuple(max(1, int(round(a * self.side * _ONE))) for a in axes)
        thickness = -1 if t < 0 else self.thick(t)
        cv2.ellipse(self.img if img is None else img, center, ax, angle, start, end, color, thickness,
                    cv2.LINE_AA, _SHIFT)

    def soft_ellipse(self, c: tuple[float, float], axes: tuple[float, float], color: Color, alpha: float) -> None:
        """A blurred-edge filled ellipse blended in with ``alpha`` (cheek blush)."""
        pad = max(axes) * 1.6
        x0, y0 = (int(v) for v in np.floor(self.fpx([(c[0] - pad, c[1] - pad)])[0]))
        x1, y1 = (int(v) for v in np.ceil(self.fpx([(c[0] + pad, c[1] + pad)])[0]))
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, self.img.shape[1]), min(y1, self.img.shape[0])
        if x1 <= x0 or y1 <= y0:
            return
        mask = np.zeros(self.img.shape[:2], np.uint8)
        self.ellipse(c, axes, (255,), img=mask)
        roi = mask[y0:y1, x0:x1]
        roi[:] = cv2.GaussianBlur(roi, (0, 0), max(axes) * self.side * 0.35)
        self.blend_mask(mask, color, alpha)

    def blend_mask(self, mask: np.ndarray, color: Color | np.ndarray, alpha: float = 1.0) -> None:
        """Blend ``color`` (a BGR triple or an image like the canvas) in where ``mask`` (0-255) is set."""
        x, y, w, h = cv2.boundingRect(mask)
        if w == 0 or h == 0:
            return
        weight = mask[y:y + h, x:x + w].astype(np.float32) * np.float32(alpha / 255.0)
        roi = self.img[y:y + h, x:x + w]
        if isinstance(color, np.ndarray):
            src = color[y:y + h, x:x + w]
        else:
            src = np.empty_like(roi)
            src[:] = np.round(np.asarray(color)).astype(np.uint8)
        roi[:] = cv2.blendLinear(src, roi, weight, 1.0 - weight)


def _face_outline(ip: IdentityParams, grow: float = 0.0, n: int = 96) -> np.ndarray:
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    e = 2.0 / ip.face_square
    x = np.sign(c) * np.abs(c) ** e
    y = np.sign(s) * np.abs(s) ** e
    factor = np.where(y > 0, 1.0 - ip.jaw_taper * y * y, 1.0 + (ip.forehead - 1.0) * (-y))
    return np.stack([x * factor * (ip.face_a + grow), y * (ip.face_b + grow) + ip.face_cy], axis=1)


def _half_width_profile(outline: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(y, half-width) of the lower half of a face outline, y increasing, for ``np.interp``."""
    right = outline[(outline[:, 0] >= 0)]
    order = np.argsort(right[:, 1])
    return right[order, 1], right[order, 0]


def _background(nu: NuisanceParams, full: int, rng: np.random.Generator) -> np.ndarray:
    """Background colour and texture, drawn at half resolution (it is smooth) and upscaled."""
    size = max(8, full // 2)
    base = np.asarray(nu.background, np.float32)
    amp = nu.background_contrast * 255.0
    if nu.background_kind == 0:
        blot = rng.standard_normal((5, 5, 3)).astype(np.float32)
        img = base + cv2.resize(blot, (size, size), interpolation=cv2.INTER_CUBIC) * (amp * 0.6)
        img8 = np.clip(img, 0, 255).astype(np.uint8)
    elif nu.background_kind == 1:
        theta = rng.uniform(0, np.pi)
        period = rng.uniform(0.05, 0.3) * size
        xs = np.arange(size, dtype=np.float32) * np.float32(2 * np.pi / period)
        proj = xs[None, :] * np.float32(np.cos(theta)) + xs[:, None] * np.float32(np.sin(theta))
        wave = np.sin(proj)
        tint = rng.uniform(-1, 1, 3).astype(np.float32) * np.float32(amp * 0.5)
        img8 = np.clip(base + wave[..., None] * tint, 0, 255).astype(np.uint8)
    else:
        img8 = np.empty((size, size, 3), np.uint8)
        img8[:] = np.clip(base, 0, 255).astype(np.uint8)
        for _ in range(int(rng.integers(3, 8))):
            col = _color(base + rng.normal(0, amp, 3))
            cx, cy = (int(v) for v in rng.integers(0, size, 2))
            if rng.random() < 0.5:
                rad = int(rng.uniform(0.05, 0.3) * size)
                cv2.circle(img8, (cx, cy), rad, col, -1, cv2.LINE_AA)
            else:
                w, h = (int(v) for v in rng.uniform(0.1, 0.5, 2) * size)
                cv2.rectangle(img8, (cx - w // 2, cy - h // 2), (cx + w // 2, cy + h // 2), col, -1)
    return cv2.resize(img8, (full, full), interpolation=cv2.INTER_LINEAR)


@functools.lru_cache(maxsize=8)
def _hair_assets(ip: IdentityParams, side: int, full: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hair colour layer (with strands), back-hair mask and front-hair mask of an identity.

    They depend on the identity only, so they are cached: a chunk of one identity's images draws them once.
    """
    cv = _Canvas(side, np.empty((full, full, 3), np.uint8))
    layer = cv.img
    layer[:] = np.round(np.asarray(ip.hair)).astype(np.uint8)
    r = _rng(ip.hair_seed)
    a, b, fcy = ip.face_a, ip.face_b, ip.face_cy
    n = 26
    top = fcy - b - ip.hair_volume
    span = a + ip.hair_volume
    x0 = r.uniform(-span, span, n)
    y0 = r.uniform(top, fcy + ip.hair_length * b + 0.02, n)
    length = r.uniform(0.05, 0.16, n)
    bend = r.uniform(-0.03, 0.03, n)
    sx = np.sign(x0) * 0.35 + r.normal(0, 0.3, n)
    f = np.linspace(0.0, 1.0, 6)[None, :]
    xs = x0[:, None] + (sx * length)[:, None] * f + bend[:, None] * f * f
    ys = y0[:, None] + length[:, None] * f
    strands = [cv.px(np.stack([xs[k], ys[k]], axis=1)) for k in range(n)]
    thick = cv.thick(0.004)
    cv2.polylines(layer, strands[0::3], False, _scaled(ip.hair, 1.25), thick, cv2.LINE_AA, _SHIFT)
    dark = [p for k, p in enumerate(strands) if k % 3]
    cv2.polylines(layer, dark, False, _scaled(ip.hair, 0.7), thick, cv2.LINE_AA, _SHIFT)

    back = np.zeros((full, full), np.uint8)
    if not ip.bald:
        pts = _face_outline(ip, grow=ip.hair_volume + 0.01)
        pts[:, 1] = np.minimum(pts[:, 1], fcy + min(ip.hair_length, 1.0) * b)
        cv.poly(pts, (255,), img=back)
        if ip.hair_length > 1.0:
            hw = (a + ip.hair_volume) * 0.95
            cv.poly([(-hw, fcy), (hw, fcy), (hw * 1.05, fcy + ip.hair_length * b),
                     (-hw * 1.05, fcy + ip.hair_length * b)], (255,), img=back)

    outer = np.zeros((full, full), np.uint8)
    cv.poly(_face_outline(ip, grow=ip.hair_volume), (255,), img=outer)
    xs = np.linspace(-(a + 0.12), a + 0.12, 41)
    hl = (fcy + ip.hairline * b + ip.hair_tilt * xs + ip.temple_drop * b * (xs / a) ** 4
          + ip.widow_peak * b * np.exp(-(xs / (0.22 * a)) ** 2))
    hl = np.minimum(hl, fcy + 0.12 * b)
    above = np.concatenate([np.stack([xs, hl], axis=1), [(a + 0.12, fcy - b - 0.3), (-(a + 0.12), fcy - b - 0.3)]])
    top_mask = np.zeros_like(outer)
    cv.poly(above, (255,), img=top_mask)
    front = cv2.min(outer, top_mask)
    for arr in (layer, back, front):
        arr.setflags(write=False)
    return layer, back, front


def _draw_eye(cv: _Canvas, ip: IdentityParams, nu: NuisanceParams, cx: float, cy: float, side: int) -> None:
    w = ip.eye_w
    h_up = w * ip.eye_h * nu.eye_open
    h_lo = w * ip.eye_h * (0.55 + 0.25 * min(nu.eye_open, 1.0))
    ang = math.radians(ip.eye_tilt) * side * -1.0  # positive tilt lifts outer corners (outer is ±x)
    ca, sa = math.cos(ang), math.sin(ang)

    def place(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        return np.stack([cx + xs * ca - ys * sa, cy + xs * sa + ys * ca], axis=1)

    xs = np.linspace(-w, w, 17)
    bump = 1.0 - (xs / w) ** 2
    upper = place(xs, -h_up * bump)
    lower = place(xs, h_lo * bump)
    lash = _scaled(ip.brow_color, 0.6)
    if nu.eye_open < 0.2:  # closed: a lid line only
        cv.line(place(xs, h_lo * 0.3 * bump), lash, 0.006)
        return
    almond = np.concatenate([upper, lower[::-1][1:-1]])
    cv.poly(almond, (232.0, 236.0, 240.0))
    t = np.linspace(0, 2 * np.pi, 28, endpoint=False)
    ir = ip.iris_r * w
    icx, icy = cx + nu.gaze[0] * w, cy + nu.gaze[1] * w - 0.1 * h_up
    eye_px = cv.fpx(almond)
    for radius, color in ((ir, ip.iris), (ir * 0.45, (15.0, 15.0, 18.0))):
        circ = cv.fpx(np.stack([icx + radius * np.cos(t), icy + radius * np.sin(t)], axis=1))
        area, inter = cv2.intersectConvexConvex(eye_px, circ)
        if inter is not None and area > 0:
            cv2.fillPoly(cv.img, [np.round(inter.reshape(-1, 2) * _ONE).astype(np.int32)], color,
                         cv2.LINE_AA, _SHIFT)
    cv.ellipse((icx - ir * 0.3, icy - ir * 0.3), (ir * 0.16, ir * 0.16), (245.0, 245.0, 245.0))
    cv.line(upper, lash, 0.007)
    cv.line(lower, _scaled(ip.skin, 0.8), 0.003)
    if ip.lid_crease:
        cv.line(place(xs * 0.85, -h_up * bump * 0.85 - w * 0.45), _scaled(ip.skin, 0.78), 0.003)


def _draw_brow(cv: _Canvas, ip: IdentityParams, nu: NuisanceParams, cx: float, cy: float, side: int) -> None:
    n = 14
    f = np.linspace(0.0, 1.0, n)  # 0 = inner end, 1 = outer end
    half = ip.eye_w * ip.brow_len
    xs = cx + side * (-half * 0.85 + 2 * half * f)
    base = cy - ip.eye_w * ip.eye_h - ip.brow_gap - nu.brow_raise
    ys = base - ip.brow_arch * (1 - (2 * f - 1) ** 2) - ip.brow_tilt * (f - 0.5) * 2
    th = ip.brow_thick * (1.0 - 0.6 * f)
    top = np.stack([xs, ys - th / 2], axis=1)
    bottom = np.stack([xs, ys + th / 2], axis=1)
    cv.poly(np.concatenate([top, bottom[::-1]]), ip.brow_color)


def _draw_mouth(cv: _Canvas, ip: IdentityParams, nu: NuisanceParams, mx: float, my: float) -> None:
    w = ip.mouth_w
    u = np.linspace(-1.0, 1.0, 21)
    xs = mx + u * w
    line = my - nu.smile * 0.022 * u * u
    bump = 1.0 - u * u
    opening = nu.mouth_open * 0.032
    up_in = line - opening * 0.25 * bump
    lo_in = line + opening * bump
    cupid = ip.cupid * ip.lip_upper * np.exp(-(u / 0.18) ** 2)
    up_out = up_in - ip.lip_upper * np.sqrt(bump) + cupid
    lo_out = lo_in + ip.lip_lower * np.sqrt(bump)
    p = lambda ys: np.stack([xs, ys], axis=1)  # noqa: E731
    if opening > 0.004:
        cv.poly(np.concatenate([p(up_in), p(lo_in)[::-1]]), (45.0, 35.0, 70.0))
        teeth = np.minimum(up_in + opening * 0.35 * bump, lo_in)
        cv.poly(np.concatenate([p(up_in), p(teeth)[::-1]]), (215.0, 225.0, 230.0))
    cv.poly(np.concatenate([p(up_out), p(up_in)[::-1]]), _scaled(ip.lip_color, 0.92))
    cv.poly(np.concatenate([p(lo_in), p(lo_out)[::-1]]), ip.lip_color)
    cv.line(p(line if opening <= 0.004 else up_in), _scaled(ip.lip_color, 0.55), 0.003)


def _draw_nose(cv: _Canvas, ip: IdentityParams, nx: float, eye_y: float, tip_y: float) -> None:
    w = ip.nose_w
    shade = _scaled(ip.skin, 0.72)
    cv.ellipse((nx, tip_y - w * 0.15), (w * 0.55, w * 0.4), shade, start=15, end=165, t=0.004)
    for s in (-1, 1):
        cv.ellipse((nx + s * w * 0.55, tip_y), (w * 0.24, w * 0.13), _scaled(ip.skin, 0.5), angle=s * 15)
        start, end = (120, 180) if s < 0 else (0, 60)  # the outer curve of each nostril wing
        cv.ellipse((nx + s * w * 0.75, tip_y - w * 0.2), (w * 0.3, w * 0.4), shade, start=start, end=end, t=0.003)
    if ip.nose_bridge:
        sides = (-1,) if ip.nose_bridge == 1 else (-1, 1)
        for s in sides:
            y0 = eye_y + 0.01
            pts = [(nx + s * w * 0.3, y0), (nx + s * w * 0.35, (y0 + tip_y) / 2), (nx + s * w * 0.6, tip_y - w * 0.4)]
            cv.line(pts, _scaled(ip.skin, 0.8), 0.0035)


def _draw_face(cv: _Canvas, ip: IdentityParams, nu: NuisanceParams) -> None:
    skin = ip.skin
    a, b, fcy = ip.face_a, ip.face_b, ip.face_cy
    # clothes and neck
    cv.ellipse((0.0, fcy + b + 0.28), (0.52, 0.24), nu.clothes)
    neck_top = fcy + 0.3 * b
    cv.poly([(-ip.neck_w, neck_top), (ip.neck_w, neck_top), (ip.neck_w * 1.1, fcy + b + 0.12),
             (-ip.neck_w * 1.1, fcy + b + 0.12)], _scaled(skin, 0.82))
    cv.ellipse((0.0, fcy + b + 0.1), (ip.neck_w * 1.35, 0.05), nu.clothes, start=0, end=180)
    # hair behind the head
    hair_layer, back_mask, front_mask = _hair_assets(ip, cv.side, cv.img.shape[0])
    cv.blend_mask(back_mask, hair_layer)
    # ears
    ear_y = fcy + ip.ear_y + nu.pitch * 0.5
    for s in (-1, 1):
        ex = s * (a * 0.97 - nu.yaw * 0.4 * s)
        cv.ellipse((ex, ear_y), (ip.ear_w, ip.ear_h), _scaled(skin, 0.93), angle=s * 8)
        cv.ellipse((ex + s * ip.ear_w * 0.15, ear_y), (ip.ear_w * 0.5, ip.ear_h * 0.6), _scaled(skin, 0.78),
                   angle=s * 8, t=0.004)
    # face
    outline = _face_outline(ip)
    cv.poly(outline, skin)
    cv.line(outline[outline[:, 1] > fcy + 0.2 * b], _scaled(skin, 0.85), 0.004)  # jaw shadow
    # inner features, shifted by yaw/pitch
    fx, fy = nu.yaw, nu.pitch
    eye_y = fcy + ip.eye_y + fy
    eyes = [(fx + s * ip.eye_dx * (1.0 - s * nu.yaw * 1.5), eye_y) for s in (-1, 1)]
    if ip.blush > 0:
        for s in (-1, 1):
            cx_ = fx + s * ip.eye_dx * 1.05
            cy_ = eye_y + ip.nose_len * 0.75
            cv.soft_ellipse((cx_, cy_), (ip.eye_w * 1.2, ip.eye_w * 0.7), (90.0, 90.0, 215.0), ip.blush)
    if ip.mole[2] > 0:
        cv.ellipse((fx + ip.mole[0] * a, fcy + ip.mole[1] * b + fy), (ip.mole[2], ip.mole[2]),
                   _scaled(skin, 0.45))
    tip_y = eye_y + ip.nose_len
    nose_x = fx * 1.4
    mouth_y = tip_y + ip.mouth_gap
    if ip.beard > 0:  # jaw and chin up to a cheek line and over the upper lip; the mouth goes on top
        ys, half_w = _half_width_profile(outline)
        y_side = eye_y + ip.nose_len * 0.55
        y_lip = mouth_y - ip.lip_upper - 0.006
        bowl = outline[outline[:, 1] > y_side]
        bowl = bowl[np.argsort(-bowl[:, 0])]  # right to left along the jaw
        hw = float(np.interp(y_side, ys, half_w))
        cheek = [(fx + ip.mouth_w * 1.5, y_lip + 0.01), (fx, y_lip), (fx - ip.mouth_w * 1.5, y_lip + 0.01)]
        region = np.concatenate([[(hw * 0.78, y_side)], cheek, [(-hw * 0.78, y_side), (-hw, y_side)],
                                 bowl[::-1], [(hw, y_side)]])
        mask = np.zeros(cv.img.shape[:2], np.uint8)
        cv.poly(region, (255,), img=mask)
        cv.blend_mask(mask, hair_layer, ip.beard)
    _draw_nose(cv, ip, nose_x, eye_y, tip_y)
    _draw_mouth(cv, ip, nu, fx, mouth_y)
    if ip.moustache > 0:
        mw = ip.mouth_w * 1.1
        top = mouth_y - ip.lip_upper - 0.006 - nu.smile * 0.004
        cv.poly([(fx - mw, top + ip.moustache * 0.9), (fx - mw * 0.5, top - ip.moustache * 0.5),
                 (fx, top - ip.moustache * 0.7), (fx + mw * 0.5, top - ip.moustache * 0.5),
                 (fx + mw, top + ip.moustache * 0.9), (fx, top + 0.002)], _scaled(ip.hair, 0.8))
    for s, (ex, ey) in zip((-1, 1), eyes):
        _draw_eye(cv, ip, nu, ex, ey, s)
        _draw_brow(cv, ip, nu, ex, ey, s)
    # hair in front of the forehead
    cv.blend_mask(front_mask, hair_layer)
    if ip.glasses:
        for ex, ey in eyes:
            rw, rh = ip.eye_w * 1.55, ip.eye_w * 1.2
            if ip.glasses == 1:
                cv.ellipse((ex, ey), (rw, rh), ip.glasses_color, t=0.006)
            else:
                cv.line([(ex - rw, ey - rh * 0.8), (ex + rw, ey - rh * 0.8), (ex + rw, ey + rh * 0.8),
                         (ex - rw, ey + rh * 0.8)], ip.glasses_color, 0.006, closed=True)
        (lx, ly), (rx, ry) = eyes
        rw = ip.eye_w * 1.55
        cv.line([(lx + rw, ly - 0.005), (fx, ly - 0.012), (rx - rw, ry - 0.005)], ip.glasses_color, 0.005)


def render_face(identity_params: IdentityParams, nuisance_params: NuisanceParams, size: int = 112) -> np.ndarray:
    """Draw one ``size``×``size`` BGR ``uint8`` image of an identity under the given nuisance.

    Pure: the same parameters give the same pixels (the background texture and sensor noise come
    from ``nuisance_params.texture_seed``).
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 16:
        raise ValueError(f"size must be an integer >= 16, got {size!r}")
    ip, nu = identity_params, nuisance_params
    side = size * _SUPERSAMPLE
    margin = side // 6
    full = side + 2 * margin
    rng = _rng(nu.texture_seed)
    cv = _Canvas(side, _background(nu, full, rng))
    _draw_face(cv, ip, nu)
    # pose: rotation, scale and shear about the canvas centre, then shift; sample the central side×side
    ang = math.radians(nu.rotation)
    rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
    lin = nu.scale * rot @ np.array([[1.0, nu.shear], [0.0, 1.0]])
    c_in = np.array([full / 2.0, full / 2.0])
    c_out = np.array([side / 2.0, side / 2.0]) + np.asarray(nu.shift) * side
    m = np.hstack([lin, (c_out - lin @ c_in)[:, None]])
    img = cv2.warpAffine(cv.img, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    # lighting: a linear gradient, overall gain and a colour cast
    g = (np.arange(size, dtype=np.float32) - (size - 1) / 2.0) / (size / 2.0)
    ramp = math.cos(nu.light_angle) * g[None, :] + math.sin(nu.light_angle) * g[:, None]
    grad = 1.0 + nu.light_strength * 0.5 * ramp
    img *= grad[..., None] * (np.asarray(nu.cast, np.float32) * nu.gain)
    if nu.blur > 0:
        img = cv2.GaussianBlur(img, (0, 0), nu.blur)
    img += rng.standard_normal(img.shape, dtype=np.float32) * nu.noise
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------------
# the data set on disk
# --------------------------------------------------------------------------------------------------

def train_identity_name(index: int) -> str:
    """Folder name of training identity ``index`` (``id_00017``)."""
    return f"id_{index:05d}"


def lfw_identity_name(index: int) -> str:
    """LFW-style name of test identity ``index`` (``Synth_Person_0042``)."""
    return f"Synth_Person_{index:04d}"


def _train_rel(ident: int, k: int) -> str:
    return f"{train_identity_name(ident)}/{k:04d}.jpg"


def _test_rel(ident: int, k: int) -> str:
    name = lfw_identity_name(ident)
    return f"{name}/{name}_{k + 1:04d}.jpg"


def _counts(cfg: SyntheticConfig) -> dict[str, int]:
    return {"train_identities": cfg.train_identities,
            "train_images": cfg.train_identities * cfg.images_per_train_identity,
            "test_identities": cfg.test_identities,
            "test_images": cfg.test_identities * cfg.test_images_per_identity,
            "pairs": cfg.folds * (cfg.pairs_per_fold // 2) * 2}


def _fold_blocks(cfg: SyntheticConfig) -> list[np.ndarray]:
    return np.array_split(np.arange(cfg.test_identities), cfg.folds)


def check_config(cfg: SyntheticConfig) -> None:
    """Raise :class:`SyntheticDataError` if ``cfg`` cannot produce the requested pairs."""
    problems = []
    if cfg.pairs_per_fold % 2:
        problems.append(f"pairs_per_fold must be even (half positive, half negative), got {cfg.pairs_per_fold}")
    if cfg.test_identities < 2 * cfg.folds:
        problems.append(f"test_identities ({cfg.test_identities}) must be at least 2 × folds ({cfg.folds}) "
                        "so every fold has two identities for negative pairs")
    else:
        half = cfg.pairs_per_fold // 2
        m = cfg.test_images_per_identity
        smallest = min(len(b) for b in _fold_blocks(cfg))
        pos = smallest * m * (m - 1) // 2
        neg = smallest * (smallest - 1) // 2 * m * m
        if pos < half:
            problems.append(f"a fold of {smallest} test identities × {m} images has only {pos} distinct positive "
                            f"pairs, fewer than pairs_per_fold/2 = {half}; add test identities or images")
        if neg < half:
            problems.append(f"a fold of {smallest} test identities has only {neg} distinct negative pairs, "
                            f"fewer than pairs_per_fold/2 = {half}")
    if problems:
        raise SyntheticDataError("synthetic data config is infeasible:\n  " + "\n  ".join(problems))


def _pick(rng: np.random.Generator, total: int, want: int, decode: Callable[[int], tuple]) -> list[tuple]:
    """``want`` distinct items out of ``total`` enumerable ones, chosen by ``rng``."""
    if want * 3 >= total:
        return [decode(int(i)) for i in sorted(rng.choice(total, size=want, replace=False))]
    seen: set[int] = set()
    order: list[int] = []
    while len(order) < want:
        i = int(rng.integers(total))
        if i not in seen:
            seen.add(i)
            order.append(i)
    return [decode(i) for i in sorted(order)]


def make_pairs(cfg: SyntheticConfig) -> list[list[tuple]]:
    """Per fold: ``pairs_per_fold/2`` positives ``(ident, i, j)`` then as many negatives ``(id1, i, id2, j)``.

    Identities are test indices (0-based), image numbers 1-based as in LFW. Each identity lies in one fold.
    """
    check_config(cfg)
    half = cfg.pairs_per_fold // 2
    m = cfg.test_images_per_identity
    within = [(i, j) for i in range(1, m + 1) for j in range(i + 1, m + 1)]
    folds = []
    for f, block in enumerate(_fold_blocks(cfg)):
        rng = _rng(cfg.seed, _TAG_PAIRS, f)
        ids = [int(v) for v in block]
        n = len(ids)
        pos = _pick(rng, n * len(within), half,
                    lambda q: (ids[q // len(within)], *within[q % len(within)]))
        id_pairs = n * (n - 1) // 2

        def neg(q: int) -> tuple:
            pair, img = divmod(q, m * m)
            # unrank pair index into (a < b)
            a = 0
            while pair >= n - 1 - a:
                pair -= n - 1 - a
                a += 1
            b = a + 1 + pair
            return (ids[a], img // m + 1, ids[b], img % m + 1)

        negs = _pick(rng, id_pairs * m * m, half, neg)
        folds.append(pos + negs)
    return folds


def _write_text_if_changed(path: Path, text: str) -> None:
    data = text.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return
    except FileNotFoundError:
        pass
    write_bytes_atomic(path, data)


def _render_chunk(job: tuple[int, int, int, int, list[tuple[int, str]]]) -> int:
    """Render one identity's missing images: ``(seed, size, quality, global identity, [(image, path)])``."""
    seed, size, quality, ident, items = job
    ip = sample_identity(seed, ident)
    for k, path in items:
        img = render_face(ip, sample_nuisance(seed, ident, k), size)
        write_bytes_atomic(Path(path), encode_image(img, ".jpg", quality))
    return len(items)


def _worker_init() -> None:
    cv2.setNumThreads(1)


def _present(folder: Path) -> set[str]:
    """Names of finished images in ``folder``; removes temp files a killed run left behind."""
    names = set()
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return names
    for e in entries:
        if e.name.startswith(".") and e.name.endswith(".tmp"):
            try:
                os.remove(e.path)
            except FileNotFoundError:
                pass
        elif e.is_file():
            names.add(e.name)
    return names


def _plan(cfg: SyntheticConfig, out: Path) -> tuple[list[tuple], int, int]:
    """Jobs for the images that are missing, the number already present, and the total."""
    jobs = []
    present = total = 0
    splits = [(out / "train" / "images", cfg.train_identities, cfg.images_per_train_identity, 0, _train_rel),
              (out / "test" / "images", cfg.test_identities, cfg.test_images_per_identity, TEST_IDENTITY_OFFSET,
               _test_rel)]
    for root, n_ids, per_id, offset, rel in splits:
        for i in range(n_ids):
            first = rel(i, 0)
            folder = root / first.split("/")[0]
            have = _present(folder)
            missing = []
            for k in range(per_id):
                name = rel(i, k).split("/")[1]
                total += 1
                if name in have:
                    present += 1
                else:
                    missing.append((k, str(folder / name)))
            for s in range(0, len(missing), 32):
                jobs.append((cfg.seed, cfg.image_size, cfg.jpeg_quality, offset + i, missing[s:s + 32]))
    return jobs, present, total


def _lists(cfg: SyntheticConfig) -> tuple[str, str, str]:
    train = "".join(f"{_train_rel(i, k)} {i}\n" for i in range(cfg.train_identities)
                    for k in range(cfg.images_per_train_identity))
    images = "".join(f"{_test_rel(i, k)}\n" for i in range(cfg.test_identities)
                     for k in range(cfg.test_images_per_identity))
    lines = [f"{cfg.folds}\t{cfg.pairs_per_fold // 2}\n"]
    for fold in make_pairs(cfg):
        for p in fold:
            if len(p) == 3:
                lines.append(f"{lfw_identity_name(p[0])}\t{p[1]}\t{p[2]}\n")
            else:
                lines.append(f"{lfw_identity_name(p[0])}\t{p[1]}\t{lfw_identity_name(p[2])}\t{p[3]}\n")
    return train, images, "".join(lines)


def _result(cfg: SyntheticConfig, out: Path, rendered: int) -> dict[str, Any]:
    counts = _counts(cfg)
    return {"out_dir": str(out), "meta": str(out / META_NAME),
            "train_root": str(out / "train" / "images"), "train_list": str(out / "train" / "train_list.txt"),
            "test_root": str(out / "test" / "images"), "pairs_file": str(out / "test" / "pairs.txt"),
            "image_list": str(out / "test" / "image_list.txt"),
            "num_classes": cfg.train_identities, **counts, "rendered": rendered}


def _meta(cfg: SyntheticConfig) -> dict[str, Any]:
    return {"format_version": FORMAT_VERSION, "generator": "facex_core.apps.synthetic",
            "note": "synthetic cartoon faces for smoke tests; not a benchmark",
            "config": attrs.asdict(cfg), "counts": _counts(cfg)}


def _config_diff(old: Any, new: dict[str, Any]) -> str:
    if not isinstance(old, dict):
        return "the recorded config is unreadable"
    keys = sorted(set(old) | set(new))
    diffs = [f"{k}: {old.get(k, '<absent>')!r} there, {new.get(k, '<absent>')!r} requested"
             for k in keys if old.get(k, "<absent>") != new.get(k, "<absent>")]
    return "; ".join(diffs)


def _clear(out: Path) -> None:
    for sub in ("train", "test"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    (out / META_NAME).unlink(missing_ok=True)


def generate(cfg: SyntheticConfig, out_dir: str | os.PathLike, workers: int = 0, *,
             overwrite: bool = False, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Write the synthetic train and test sets under ``out_dir`` and return their paths and counts.

    Safe to call again: a complete folder made with the same config is returned untouched, and an
    interrupted one is finished (only missing images are drawn). A folder made with a different config
    raises :class:`SyntheticDataError` unless ``overwrite`` is true, which deletes its ``train/``,
    ``test/`` and ``synthetic.json`` first. ``workers > 0`` draws in that many spawned processes (call
    from under ``if __name__ == "__main__":`` in scripts); the bytes are the same as with ``workers=0``.
    ``progress(done, total)`` is called as images are finished, counting those already on disk.
    """
    if not isinstance(cfg, SyntheticConfig):
        raise TypeError(f"cfg must be a SyntheticConfig, got {type(cfg).__name__}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be an integer >= 0, got {workers!r}")
    check_config(cfg)
    out = Path(out_dir)
    meta_path = out / META_NAME
    want = _meta(cfg)
    if meta_path.exists():
        try:
            have = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            have = None
        same = (isinstance(have, dict) and have.get("format_version") == FORMAT_VERSION
                and have.get("config") == want["config"])
        if not same:
            if not overwrite:
                if isinstance(have, dict) and have.get("format_version") != FORMAT_VERSION:
                    why = f"format version {have.get('format_version')!r} there, {FORMAT_VERSION} now"
                else:
                    why = _config_diff(have.get("config") if isinstance(have, dict) else None, want["config"])
                raise SyntheticDataError(
                    f"{out}: holds synthetic data made with a different config ({why}); "
                    "pass overwrite=True to replace it, or choose another folder")
            _clear(out)
    else:
        stray = [sub for sub in ("train", "test") if (out / sub).exists() and any((out / sub).iterdir())]
        if stray:
            if not overwrite:
                raise SyntheticDataError(
                    f"{out}: {' and '.join(stray)}/ exist but {META_NAME} does not, so this is not a folder "
                    "this generator made; pass overwrite=True to replace them, or choose another folder")
            _clear(out)
    out.mkdir(parents=True, exist_ok=True)
    if not meta_path.exists():
        write_bytes_atomic(meta_path, (json.dumps(want, indent=2) + "\n").encode("utf-8"))

    jobs, present, total = _plan(cfg, out)
    paths = _result(cfg, out, 0)
    list_paths = [Path(paths["train_list"]), Path(paths["image_list"]), Path(paths["pairs_file"])]
    if not jobs and all(p.exists() for p in list_paths):
        if progress is not None:
            progress(total, total)
        return paths

    for sub in ("train", "test"):
        (out / sub / "images").mkdir(parents=True, exist_ok=True)
    for job in jobs:
        Path(job[4][0][1]).parent.mkdir(parents=True, exist_ok=True)
    done = present
    if progress is not None:
        progress(done, total)
    if jobs:
        if workers == 0:
            for job in jobs:
                done += _render_chunk(job)
                if progress is not None:
                    progress(done, total)
        else:
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(processes=min(workers, len(jobs)), initializer=_worker_init) as pool:
                for n in pool.imap_unordered(_render_chunk, jobs):
                    done += n
                    if progress is not None:
                        progress(done, total)
    train, images, pairs = _lists(cfg)
    for path, text in zip(list_paths, (train, images, pairs)):
        _write_text_if_changed(path, text)
    return _result(cfg, out, total - present)



#: Public alias used by ``facex_core.generate_synthetic``.
generate_synthetic = generate
