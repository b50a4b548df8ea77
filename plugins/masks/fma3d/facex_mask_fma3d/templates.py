"""Built-in mask templates, drawn procedurally in the canonical mesh's UV plane (256×256 BGRA).

FMA-3D ships eight RGBA PNGs lifted from photos. Here each built-in template is an outline placed
with the UV positions of face landmarks (nose bridge, nostrils, cheeks, lips, chin), so edges follow
the face the way a worn mask does, filled with a procedural texture (pleats, weave, a print, an N95
cup, a KN95 seam). Templates are generated on first use, deterministically (fixed noise seeds), and
cached. Their alpha is *not* cut to the face's UV hull: the renderer only samples inside the mesh,
and an alpha that continues past the hull keeps the face's silhouette edge opaque under linear
sampling.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

import attrs
import cv2
import numpy as np

from .mesh import UV_SIZE, canonical_mesh, uv_pixels
from .render import Raster, rasterize

S = float(UV_SIZE)
#: sub-pixel bits for cv2.fillPoly/polylines (coordinates × 16): smooth anti-aliased outlines.
SHIFT = 4


@attrs.frozen
class TemplateSpec:
    """How one built-in template looks."""

    name: str
    summary: str
    style: str
    """``surgical``, ``cloth``, ``dots``, ``plaid``, ``n95`` or ``kn95``."""
    color: tuple[int, int, int]
    """Base colour, BGR."""
    top: str = "nose"
    """Upper edge: ``nose`` (over the nose bridge) or ``below_nose`` (under the nostrils)."""
    bottom: str = "chin"
    """Lower edge: ``chin`` (covers the chin) or ``open_chin`` (just under the lower lip)."""
    valve: bool = False
    straps: bool = False


BUILTIN: tuple[TemplateSpec, ...] = (
    TemplateSpec("surgical_blue", "blue surgical mask, three pleats, nose wire", "surgical", (214, 178, 120)),
    TemplateSpec("surgical_white", "white surgical mask with pleats", "surgical", (236, 238, 238)),
    TemplateSpec("surgical_blue_below_nose", "blue surgical mask worn under the nose", "surgical",
                 (214, 178, 120), top="below_nose"),
    TemplateSpec("surgical_green_open_chin", "green surgical mask pulled above the chin", "surgical",
                 (170, 196, 150), bottom="open_chin"),
    TemplateSpec("cloth_black", "black woven cloth mask with a centre seam", "cloth", (38, 36, 36)),
    TemplateSpec("cloth_grey_below_nose", "grey cloth mask under the nose, chin free", "cloth", (128, 124, 120),
                 top="below_nose", bottom="open_chin"),
    TemplateSpec("cloth_dots", "navy printed cloth mask with white polka dots", "dots", (92, 42, 24)),
    TemplateSpec("cloth_plaid", "red tartan printed cloth mask", "plaid", (40, 40, 170)),
    TemplateSpec("n95", "white N95 cup respirator with head straps", "n95", (228, 232, 234), straps=True),
    TemplateSpec("n95_valve", "white N95 cup respirator with an exhalation valve", "n95", (222, 228, 230),
                 valve=True, straps=True),
    TemplateSpec("kn95", "white KN95 folded respirator with a centre seam and ear loops", "kn95",
                 (240, 240, 238), straps=True),
)
SPECS = {spec.name: spec for spec in BUILTIN}


@functools.lru_cache(maxsize=1)
def uv_raster() -> Raster:
    """The canonical mesh rasterised in the UV texture (one triangle per texel; no overlaps)."""
    mesh = canonical_mesh()
    return rasterize(uv_pixels() - 0.5, np.zeros(len(mesh.uv)), mesh.triangles, UV_SIZE, UV_SIZE)


def uv_hull() -> np.ndarray:
    """UV_SIZE² bool: texels on the face mesh."""
    return uv_raster().covered


def _landmark(index: int) -> tuple[float, float]:
    u, v = canonical_mesh().uv[index]
    return float(u), float(v)


def _edge(left_anchors: list[tuple[float, float]]) -> Callable[[np.ndarray], np.ndarray]:
    """v(u) through image-left anchors (u ≤ 0.5) and their mirror images (the UV is symmetric)."""
    pts = sorted(left_anchors) + [(1.0 - u, v) for u, v in sorted(left_anchors, reverse=True) if u < 0.5]
    us = np.array([p[0] for p in pts])
    vs = np.array([p[1] for p in pts])
    return lambda u: np.interp(u, us, vs)


def top_edge(kind: str) -> Callable[[np.ndarray], np.ndarray]:
    """Upper mask edge in UV as v(u): across the nose bridge (197) under the eyes, or under the nose."""
    if kind == "nose":  # ear side (234) → cheekbones below the eye (116, 117, 118) → nose bridge (197)
        return _edge([(-0.1, _landmark(234)[1])] + [_landmark(i) for i in (234, 116, 117, 118, 197)])
    # under the nose: side (93) → cheek beside the nostril wing (206) → below the columella (164)
    return _edge([(-0.1, _landmark(93)[1])] + [_landmark(i) for i in (93, 206, 164)])


def bottom_edge(kind: str) -> Callable[[np.ndarray], np.ndarray]:
    """Lower mask edge v(u): below the mesh (covers the chin) or from the jaw (58) to under the lip (200)."""
    if kind == "chin":
        return lambda u: np.full_like(np.asarray(u, dtype=np.float64), 1.2)
    return _edge([(-0.1, _landmark(58)[1] - 0.02)] + [_landmark(i) for i in (58, 200)])


def _fill(polygon_uv: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage (float 0..1) of a UV polygon (coordinates in [0, 1])."""
    canvas = np.zeros((UV_SIZE, UV_SIZE), np.uint8)
    pts = np.round((polygon_uv * S - 0.5) * (1 << SHIFT)).astype(np.int32)
    cv2.fillPoly(canvas, [pts], 255, lineType=cv2.LINE_AA, shift=SHIFT)
    return canvas.astype(np.float64) / 255.0


def _band_outline(spec: TemplateSpec) -> np.ndarray:
    u = np.linspace(-0.1, 1.1, 241)
    top, bottom = top_edge(spec.top)(u), bottom_edge(spec.bottom)(u)
    return np.concatenate([np.column_stack([u, top]), np.column_stack([u, bottom])[::-1]])


def _n95_outline() -> np.ndarray:
    # a cup from the nose bridge (195) to under the chin (152), as wide as the jaw corners (172, 397)
    top, chin, jaw = _landmark(195)[1] - 0.025, _landmark(152)[1] + 0.06, _landmark(172)[0]
    centre, half_h, half_w = (top + chin) / 2.0, (chin - top) / 2.0, 0.5 - jaw + 0.04
    t = np.linspace(0, 2 * np.pi, 181)
    return np.column_stack([0.5 + half_w * np.cos(t), centre + half_h * np.sin(t)])


def _kn95_outline() -> np.ndarray:
    # folded flat: a peak on the nose bridge (197), straight sides by the cheeks, a point under the chin
    bridge, side_top, side_bottom = _landmark(197), _landmark(93), _landmark(172)
    left = [(0.5, bridge[1] - 0.01), (0.16, side_top[1] - 0.01), (0.09, side_bottom[1] - 0.03),
            (0.5, _landmark(152)[1] + 0.08)]
    return np.array(left + [(1.0 - u, v) for u, v in left[2:0:-1]])


def _outline(spec: TemplateSpec) -> np.ndarray:
    if spec.style == "n95":
        return _n95_outline()
    if spec.style == "kn95":
        return _kn95_outline()
    return _band_outline(spec)


def _grid() -> tuple[np.ndarray, np.ndarray]:
    v, u = np.mgrid[0:UV_SIZE, 0:UV_SIZE].astype(np.float64)
    return (u + 0.5) / S, (v + 0.5) / S


def _noise(seed: int, sigma: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.normal(0.0, 1.0, (UV_SIZE, UV_SIZE)), (0, 0), sigma)


def _inner_distance(alpha: np.ndarray) -> np.ndarray:
    """Distance (texels) from each texel inside the outline to its edge."""
    return cv2.distanceTransform((alpha > 0.5).astype(np.uint8), cv2.DIST_L2, 5)


def _shade(spec: TemplateSpec, alpha: np.ndarray) -> np.ndarray:
    """Multiplicative relief (folds, weave, seams) of a template, 1 = flat."""
    u, v = _grid()
    shade = 1.0 + 0.025 * _noise(11, 0.8) / max(_noise(11, 0.8).std(), 1e-9)
    inner = _inner_distance(alpha)
    if spec.style == "surgical":
        top = top_edge(spec.top)(u)
        for k, offset in enumerate((0.11, 0.19, 0.27)):  # three pleats parallel to the upper edge
            crease = (v - top - offset) * S
            shade *= 1.0 - 0.16 * np.exp(-((crease - 1.5) / 2.2) ** 2) + 0.07 * np.exp(-((crease + 2.5) / 2.5) ** 2)
        shade *= np.where(inner < 5.0, 0.9, 1.0)  # the bound hem
        wire = (np.abs(u - 0.5) < 0.11) & (inner > 2.0) & (inner < 5.0) & (v < top + 0.04)
        shade *= np.where(wire, 1.12, 1.0)
    elif spec.style in ("cloth", "dots", "plaid"):
        weave = np.sin(2 * np.pi * (u * S) / 2.7) * np.sin(2 * np.pi * (v * S) / 2.7)
        shade *= 1.0 + 0.05 * weave + 0.03 * _noise(12, 1.5) / max(_noise(12, 1.5).std(), 1e-9)
        shade *= 1.0 - 0.25 * np.exp(-((u - 0.5) * S / 1.2) ** 2)  # centre seam
        shade *= np.where(inner < 3.0, 0.85, 1.0)
    elif spec.style == "n95":
        radial = np.clip(1.0 - inner / 40.0, 0.0, 1.0)
        shade *= 1.0 - 0.18 * radial ** 2  # the cup curves away towards its rim
        shade *= np.where(inner < 4.0, 0.88, 1.0)
    elif spec.style == "kn95":
        shade *= 1.0 - 0.3 * np.exp(-((u - 0.5) * S / 1.3) ** 2)  # the folded centre seam
        dots = ((np.round(v * S) % 6 == 0) & ((np.abs(u - 0.5) * S < 3.5) | ((inner > 3) & (inner < 4.5))))
        shade *= np.where(dots, 0.8, 1.0)  # heat-weld dots along the seam and the rim
    return shade


def _base_colour(spec: TemplateSpec) -> np.ndarray:
    u, v = _grid()
    colour = np.broadcast_to(np.asarray(spec.color, dtype=np.float64), (UV_SIZE, UV_SIZE, 3)).copy()
    if spec.style == "dots":  # a hexagonal lattice of dots, 16 texels apart
        row = np.floor(v * S / 14.0)
        x = (u * S + 8.0 * (row % 2)) % 16.0 - 8.0
        y = (v * S) % 14.0 - 7.0
        colour[np.hypot(x, y) < 3.6] = (235, 235, 240)
    elif spec.style == "plaid":
        bands_x = (np.floor(u * S / 18.0) % 2 == 0).astype(np.float64)
        bands_y = (np.floor(v * S / 18.0) % 2 == 0).astype(np.float64)
        colour *= ((1 - 0.3 * bands_x) * (1 - 0.3 * bands_y))[..., None]
        thin = (np.abs((u * S) % 36.0 - 27.0) < 0.8) | (np.abs((v * S) % 36.0 - 27.0) < 0.8)
        colour[thin] = (60, 200, 230)
    return colour


def _draw_valve(colour: np.ndarray, alpha: np.ndarray) -> None:
    mouth = _landmark(61)
    centre = np.array([mouth[0] - 0.04, mouth[1] + 0.05]) * S
    cv2.circle(colour, tuple(int(c) for c in centre), 20, (150, 152, 150), -1, cv2.LINE_AA)
    cv2.circle(colour, tuple(int(c) for c in centre), 20, (90, 92, 90), 2, cv2.LINE_AA)
    for dy in (-8, -3, 2, 7):  # exhalation slots
        cv2.line(colour, (int(centre[0]) - 10, int(centre[1]) + dy), (int(centre[0]) + 10, int(centre[1]) + dy),
                 (95, 96, 95), 2, cv2.LINE_AA)
    cv2.circle(alpha, tuple(int(c) for c in centre), 21, 1.0, -1, cv2.LINE_AA)


def _draw_straps(spec: TemplateSpec, colour: np.ndarray, alpha: np.ndarray) -> None:
    """Ear loops (KN95) or head straps (N95) from the mask's side to the side of the face."""
    if spec.style == "kn95":
        pairs = [((0.16, 0.56), (-0.02, 0.50)), ((0.10, 0.76), (-0.02, 0.56))]
    else:
        pairs = [((0.16, 0.56), (-0.02, 0.44)), ((0.18, 0.86), (-0.02, 0.64))]
    pairs += [((1.0 - a[0], a[1]), (1.0 - b[0], b[1])) for a, b in pairs]
    strap = np.zeros_like(alpha)
    for a, b in pairs:
        pa = tuple(int(round((c * S - 0.5) * (1 << SHIFT))) for c in a)
        pb = tuple(int(round((c * S - 0.5) * (1 << SHIFT))) for c in b)
        cv2.line(strap, pa, pb, 1.0, 3, cv2.LINE_AA, SHIFT)
    strap_only = strap * (1.0 - alpha)
    colour[:] = colour * (1.0 - strap_only[..., None]) + np.array([200, 205, 205]) * strap_only[..., None]
    np.maximum(alpha, strap, out=alpha)


def render_template(spec: TemplateSpec) -> np.ndarray:
    """The UV-space BGRA ``uint8`` texture of a built-in template (deterministic)."""
    alpha = _fill(_outline(spec))
    colour = _base_colour(spec) * _shade(spec, alpha)[..., None]
    if spec.valve:
        _draw_valve(colour, alpha)
    if spec.straps:
        _draw_straps(spec, colour, alpha)
    out = np.dstack([np.clip(colour, 0, 255), alpha * 255.0])
    return np.round(out).astype(np.uint8)


@functools.lru_cache(maxsize=None)
def builtin_template(name: str) -> np.ndarray:
    """Cached, read-only built-in template by name."""
    if name not in SPECS:
        raise KeyError(f"unknown built-in mask template {name!r}; known: {', '.join(SPECS)}")
    out = render_template(SPECS[name])
    out.setflags(write=False)
    return out


def load_template(path: str | Path) -> np.ndarray:
    """A user template: a BGRA PNG in the UV layout (as ``lift_template`` writes), resized to UV_SIZE²."""
    raw = np.fromfile(str(path), dtype=np.uint8) if Path(path).is_file() else np.zeros(0, np.uint8)
    img = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED) if raw.size else None
    if img is None:
        raise ValueError(f"{path}: mask template is missing or not a decodable image")
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 4:
        raise ValueError(f"{path}: mask template must be an 8-bit BGRA image (with alpha), got "
                         f"{img.dtype} {img.shape}")
    if img.shape[:2] != (UV_SIZE, UV_SIZE):
        img = cv2.resize(img, (UV_SIZE, UV_SIZE), interpolation=cv2.INTER_AREA)
    img.setflags(write=False)
    return img


def template_sheet(templates: dict[str, np.ndarray], cell: int = 128, columns: int = 4) -> np.ndarray:
    """A BGR contact sheet of templates over the face's UV hull (grey) with their names, for docs."""
    hull = cv2.resize(uv_hull().astype(np.uint8), (cell, cell), interpolation=cv2.INTER_NEAREST).astype(bool)
    rows = -(-len(templates) // columns)
    sheet = np.full((rows * (cell + 16), columns * cell, 3), 255, np.uint8)
    for k, (name, tex) in enumerate(templates.items()):
        small = cv2.resize(tex, (cell, cell), interpolation=cv2.INTER_AREA).astype(np.float64)
        a = small[..., 3:] / 255.0 * hull[..., None]
        face = np.where(hull[..., None], 200.0, 255.0)
        tile = np.round(face * (1 - a) + small[..., :3] * a).astype(np.uint8)
        y, x = (k // columns) * (cell + 16), (k % columns) * cell
        sheet[y:y + cell, x:x + cell] = tile
        cv2.putText(sheet, name[:22], (x + 2, y + cell + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return sheet
