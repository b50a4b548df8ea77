"""Who a synthetic identity is and how one image of it varies: the random parameters of a drawing.

* identity: stable geometry and colour: face shape (axes, squareness, jaw taper, forehead width), eye
  placement, size, tilt and iris colour, brows, nose, mouth and lips, ears, skin tone, hair colour,
  hairline, volume and length, and optional moles, beards, moustaches and glasses;
* nuisance (per image): a pose-like affine warp (rotation, scale, shift, shear) plus a yaw/pitch shift of
  the inner features, expression (smile, mouth opening, brow raise, eye openness, gaze), a lighting
  gradient with gain and colour cast, background colour and texture, clothing, blur, sensor noise.

Every value comes from ``numpy.random.default_rng([seed, tag, ...])``, so identity ``i`` under
``seed`` always looks the same, and image ``k`` of it always varies the same way.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import attrs
import numpy as np

# first word after the seed in each random stream, so the streams never collide
TAG_IDENTITY = 1
TAG_NUISANCE = 2
TAG_PAIRS = 3

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


def random_stream(*words: int) -> np.random.Generator:
    """The generator seeded with ``words`` (``seed, tag, index, ...``)."""
    return np.random.default_rng([int(w) for w in words])


def clip_color(values: Any) -> Color:
    """Three numbers clipped to 0..255 as a BGR float triple."""
    b, g, r = (float(min(255.0, max(0.0, float(v)))) for v in values)
    return (b, g, r)


def mix(c1: Sequence[float], c2: Sequence[float], t: float) -> Color:
    """The colour a fraction ``t`` of the way from ``c1`` to ``c2``."""
    return clip_color(a + (b - a) * t for a, b in zip(c1, c2))


def scaled(c: Sequence[float], f: float) -> Color:
    """Colour ``c`` darkened (``f < 1``) or brightened by factor ``f``."""
    return clip_color(v * f for v in c)


_SKIN_DARK = (40.0, 62.0, 100.0)
_SKIN_LIGHT = (180.0, 200.0, 238.0)
_HAIR = [(20.0, 22.0, 25.0), (25.0, 40.0, 60.0), (40.0, 70.0, 110.0), (80.0, 140.0, 190.0),
         (30.0, 60.0, 150.0), (150.0, 150.0, 155.0), (215.0, 215.0, 220.0)]
_HAIR_P = [0.27, 0.22, 0.16, 0.12, 0.08, 0.09, 0.06]
_IRIS = [(30.0, 55.0, 90.0), (20.0, 32.0, 50.0), (150.0, 110.0, 60.0), (80.0, 125.0, 85.0),
         (125.0, 125.0, 115.0), (50.0, 100.0, 120.0)]


def sample_identity(seed: int, index: int) -> IdentityParams:
    """The look of identity ``index`` under ``seed`` (drawn from ``default_rng([seed, tag, index])``).

    Training identity ``i`` is index ``i``; test identity ``j`` is index ``TEST_IDENTITY_OFFSET + j``
    (:mod:`facex_data_synthetic.plugin`).
    """
    r = random_stream(seed, TAG_IDENTITY, index)
    u = r.uniform
    face_a = u(0.25, 0.32)
    face_b = u(0.33, 0.40)
    skin_t = r.beta(1.6, 1.4)
    skin = mix(_SKIN_DARK, _SKIN_LIGHT, skin_t)
    skin = clip_color(np.asarray(skin) + r.normal(0, 8, 3))
    hair_i = int(r.choice(len(_HAIR), p=_HAIR_P))
    hair = clip_color(v * u(0.85, 1.15) + r.normal(0, 6) for v in _HAIR[hair_i])
    bald = bool(r.random() < 0.08)
    iris = clip_color(v + r.normal(0, 8) for v in _IRIS[int(r.integers(len(_IRIS)))])
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
        brow_color=scaled(brow_src, u(0.6, 0.85)),
        nose_len=float(face_b * u(0.3, 0.45)), nose_w=float(u(0.026, 0.05)), nose_bridge=int(r.integers(3)),
        mouth_gap=float(face_b * u(0.13, 0.22)), mouth_w=float(u(0.05, 0.088)),
        lip_upper=float(u(0.006, 0.014)), lip_lower=float(u(0.008, 0.02)),
        lip_color=mix(scaled(skin, 0.9), (80.0, 70.0, 175.0), lip_mix), cupid=float(u(0.0, 0.6)),
        mole=mole, beard=beard, moustache=moustache, glasses=glasses,
        glasses_color=mix((15.0, 15.0, 15.0), r.uniform(20, 200, 3), float(u(0, 1))),
        neck_w=float(face_a * u(0.45, 0.65)),
    )


def sample_nuisance(seed: int, identity: int, image: int) -> NuisanceParams:
    """The per-image variation of image ``image`` of identity ``identity`` under ``seed``."""
    r = random_stream(seed, TAG_NUISANCE, identity, image)
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
        cast=clip_color(np.clip(1 + r.normal(0, 0.07, 3), 0.8, 1.2)),
        background=clip_color(r.uniform(20, 235, 3)),
        background_kind=int(r.integers(3)), background_contrast=float(u(0.05, 0.35)),
        clothes=clip_color(r.uniform(10, 245, 3)),
        blur=float(u(0.3, 1.3)) if r.random() < 0.6 else 0.0, noise=float(u(1.0, 7.0)),
        texture_seed=int(r.integers(2**31 - 1)),
    )
