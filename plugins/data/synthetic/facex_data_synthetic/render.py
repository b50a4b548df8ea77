"""Drawing one synthetic face: a cartoon made of OpenCV primitives, then pose, light, blur and noise.

No real person is shown and no real data is used. Faces are drawn at ``SUPERSAMPLE`` times the output
size with anti-aliased fixed-point primitives, warped by the pose, area-downscaled, lit and degraded.
:func:`render_face` is pure: the same parameters always give the same pixels.
"""
from __future__ import annotations

import functools
import math
from typing import Any

import cv2
import numpy as np

from .identity import Color, IdentityParams, NuisanceParams, clip_color, random_stream, scaled

SUPERSAMPLE = 2  # faces are drawn at this multiple of the output size, then area-downscaled
_SHIFT = 4  # fixed-point bits for OpenCV drawing coordinates
_ONE = float(1 << _SHIFT)


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
            col = clip_color(base + rng.normal(0, amp, 3))
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
    r = random_stream(ip.hair_seed)
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
    cv2.polylines(layer, strands[0::3], False, scaled(ip.hair, 1.25), thick, cv2.LINE_AA, _SHIFT)
    dark = [p for k, p in enumerate(strands) if k % 3]
    cv2.polylines(layer, dark, False, scaled(ip.hair, 0.7), thick, cv2.LINE_AA, _SHIFT)

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
    lash = scaled(ip.brow_color, 0.6)
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
    cv.line(lower, scaled(ip.skin, 0.8), 0.003)
    if ip.lid_crease:
        cv.line(place(xs * 0.85, -h_up * bump * 0.85 - w * 0.45), scaled(ip.skin, 0.78), 0.003)


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
    cv.poly(np.concatenate([p(up_out), p(up_in)[::-1]]), scaled(ip.lip_color, 0.92))
    cv.poly(np.concatenate([p(lo_in), p(lo_out)[::-1]]), ip.lip_color)
    cv.line(p(line if opening <= 0.004 else up_in), scaled(ip.lip_color, 0.55), 0.003)


def _draw_nose(cv: _Canvas, ip: IdentityParams, nx: float, eye_y: float, tip_y: float) -> None:
    w = ip.nose_w
    shade = scaled(ip.skin, 0.72)
    cv.ellipse((nx, tip_y - w * 0.15), (w * 0.55, w * 0.4), shade, start=15, end=165, t=0.004)
    for s in (-1, 1):
        cv.ellipse((nx + s * w * 0.55, tip_y), (w * 0.24, w * 0.13), scaled(ip.skin, 0.5), angle=s * 15)
        start, end = (120, 180) if s < 0 else (0, 60)  # the outer curve of each nostril wing
        cv.ellipse((nx + s * w * 0.75, tip_y - w * 0.2), (w * 0.3, w * 0.4), shade, start=start, end=end, t=0.003)
    if ip.nose_bridge:
        sides = (-1,) if ip.nose_bridge == 1 else (-1, 1)
        for s in sides:
            y0 = eye_y + 0.01
            pts = [(nx + s * w * 0.3, y0), (nx + s * w * 0.35, (y0 + tip_y) / 2), (nx + s * w * 0.6, tip_y - w * 0.4)]
            cv.line(pts, scaled(ip.skin, 0.8), 0.0035)


def _draw_face(cv: _Canvas, ip: IdentityParams, nu: NuisanceParams) -> None:
    skin = ip.skin
    a, b, fcy = ip.face_a, ip.face_b, ip.face_cy
    # clothes and neck
    cv.ellipse((0.0, fcy + b + 0.28), (0.52, 0.24), nu.clothes)
    neck_top = fcy + 0.3 * b
    cv.poly([(-ip.neck_w, neck_top), (ip.neck_w, neck_top), (ip.neck_w * 1.1, fcy + b + 0.12),
             (-ip.neck_w * 1.1, fcy + b + 0.12)], scaled(skin, 0.82))
    cv.ellipse((0.0, fcy + b + 0.1), (ip.neck_w * 1.35, 0.05), nu.clothes, start=0, end=180)
    # hair behind the head
    hair_layer, back_mask, front_mask = _hair_assets(ip, cv.side, cv.img.shape[0])
    cv.blend_mask(back_mask, hair_layer)
    # ears
    ear_y = fcy + ip.ear_y + nu.pitch * 0.5
    for s in (-1, 1):
        ex = s * (a * 0.97 - nu.yaw * 0.4 * s)
        cv.ellipse((ex, ear_y), (ip.ear_w, ip.ear_h), scaled(skin, 0.93), angle=s * 8)
        cv.ellipse((ex + s * ip.ear_w * 0.15, ear_y), (ip.ear_w * 0.5, ip.ear_h * 0.6), scaled(skin, 0.78),
                   angle=s * 8, t=0.004)
    # face
    outline = _face_outline(ip)
    cv.poly(outline, skin)
    cv.line(outline[outline[:, 1] > fcy + 0.2 * b], scaled(skin, 0.85), 0.004)  # jaw shadow
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
                   scaled(skin, 0.45))
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
                 (fx + mw, top + ip.moustache * 0.9), (fx, top + 0.002)], scaled(ip.hair, 0.8))
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
    side = size * SUPERSAMPLE
    margin = side // 6
    full = side + 2 * margin
    rng = random_stream(nu.texture_seed)
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
