"""A vectorised z-buffer triangle rasteriser and the UV ↔ image maps built on it (numpy + OpenCV).

FaceX-Zoo's FMA-3D rasterised PRNet's 43k-vertex mesh with a Cython renderer (per-vertex colours,
with known uninitialised-buffer and build problems). Here every pixel instead gets the id of the
nearest triangle covering it and its barycentric coordinates; a per-triangle affine map then gives
any attribute at the pixel — UV coordinates to sample a mask template with one ``cv2.remap``
(rendering), or image positions to sample a photo (lifting a template off a masked face).
"""
from __future__ import annotations

from typing import Any

import attrs
import cv2
import numpy as np

#: candidate (pixel, triangle) pairs handled at once; bounds memory on very large faces.
CHUNK_PAIRS = 1 << 21
#: a pixel on a shared edge belongs to both triangles; the z-buffer then picks one.
EDGE_EPS = 1e-9


@attrs.frozen(eq=False)
class Raster:
    """Per-pixel result of rasterising a mesh into an ``height``×``width`` grid (pixel centres at
    integer coordinates, as OpenCV's remap and landmark conventions use)."""

    triangle: np.ndarray
    """height×width int64: id of the nearest covering triangle, −1 where none."""
    bary: np.ndarray
    """height×width×3 float64 barycentric coordinates in that triangle (0 where none)."""
    depth: np.ndarray
    """height×width float64 interpolated depth of the winning triangle (+inf where none)."""

    @property
    def covered(self) -> np.ndarray:
        """height×width bool: pixels some triangle covers."""
        return self.triangle >= 0

    def interpolate(self, values: np.ndarray, triangles: np.ndarray) -> np.ndarray:
        """Barycentric interpolation of per-vertex ``values`` (N×C) at every covered pixel (0 elsewhere)."""
        values = np.asarray(values, dtype=np.float64)
        out = np.zeros(self.triangle.shape + values.shape[1:])
        hit = self.covered
        corners = values[triangles[self.triangle[hit]]]  # P×3×C
        out[hit] = np.einsum("pk,pk...->p...", self.bary[hit], corners)
        return out


def rasterize(points: Any, depth: Any, triangles: Any, height: int, width: int) -> Raster:
    """Rasterise triangles (vertex ``points`` N×2 in pixels, ``depth`` N, smaller = nearer) with a z-buffer.

    Each triangle proposes the pixel centres of its bounding box; barycentric coordinates from the
    inverse of its edge matrix keep those inside; for every pixel the candidate with the smallest
    interpolated depth wins. Degenerate (zero-area) triangles cover nothing.
    """
    pts = np.asarray(points, dtype=np.float64)
    z = np.asarray(depth, dtype=np.float64)
    tris = np.asarray(triangles, dtype=np.int64)
    tri_id = np.full((height, width), -1, dtype=np.int64)
    bary = np.zeros((height, width, 3))
    zbuf = np.full((height, width), np.inf)
    corners = pts[tris]  # T×3×2
    edges = np.stack([corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]], axis=2)  # T×2×2
    det = edges[:, 0, 0] * edges[:, 1, 1] - edges[:, 0, 1] * edges[:, 1, 0]
    lo = np.ceil(corners.min(axis=1) - EDGE_EPS).astype(np.int64)
    hi = np.floor(corners.max(axis=1) + EDGE_EPS).astype(np.int64)
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, [width - 1, height - 1])
    extent = hi - lo + 1
    usable = (np.abs(det) > 1e-12) & (extent > 0).all(axis=1) & np.isfinite(corners).all(axis=(1, 2))
    ids = np.flatnonzero(usable)
    if ids.size == 0:
        return Raster(tri_id, bary, zbuf)
    inv = np.zeros_like(edges)
    inv[ids, 0, 0], inv[ids, 1, 1] = edges[ids, 1, 1] / det[ids], edges[ids, 0, 0] / det[ids]
    inv[ids, 0, 1], inv[ids, 1, 0] = -edges[ids, 0, 1] / det[ids], -edges[ids, 1, 0] / det[ids]
    counts = extent[ids, 0] * extent[ids, 1]
    cum = np.cumsum(counts)
    start = 0
    while start < ids.size:  # chunks of triangles proposing at most CHUNK_PAIRS pixels each
        done = cum[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(cum, done + CHUNK_PAIRS, side="right")))
        _rasterize_chunk(ids[start:stop], counts[start:stop], lo, extent, corners, inv, z[tris],
                         tri_id, bary, zbuf)
        start = stop
    return Raster(tri_id, bary, zbuf)


def _rasterize_chunk(ids, counts, lo, extent, corners, inv, tri_depth, tri_id, bary, zbuf) -> None:
    owner = np.repeat(ids, counts)
    local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    px = lo[owner, 0] + local % extent[owner, 0]
    py = lo[owner, 1] + local // extent[owner, 0]
    dx = px - corners[owner, 0, 0]
    dy = py - corners[owner, 0, 1]
    l1 = inv[owner, 0, 0] * dx + inv[owner, 0, 1] * dy
    l2 = inv[owner, 1, 0] * dx + inv[owner, 1, 1] * dy
    l0 = 1.0 - l1 - l2
    inside = (l0 >= -EDGE_EPS) & (l1 >= -EDGE_EPS) & (l2 >= -EDGE_EPS)
    owner, px, py, l0, l1, l2 = (a[inside] for a in (owner, px, py, l0, l1, l2))
    d = l0 * tri_depth[owner, 0] + l1 * tri_depth[owner, 1] + l2 * tri_depth[owner, 2]
    flat = py * tri_id.shape[1] + px
    order = np.lexsort((owner, d, flat))  # nearest first per pixel; ties go to the lower triangle id
    flat, first = np.unique(flat[order], return_index=True)
    win = order[first]
    closer = d[win] < zbuf.reshape(-1)[flat]
    flat, win = flat[closer], win[closer]
    zbuf.reshape(-1)[flat] = d[win]
    tri_id.reshape(-1)[flat] = owner[win]
    bary.reshape(-1, 3)[flat] = np.column_stack([l0[win], l1[win], l2[win]])


def sample(texture: np.ndarray, map_xy: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """``cv2.remap`` of ``texture`` at float pixel positions ``map_xy`` (H×W×2), zero outside."""
    maps = np.ascontiguousarray(map_xy, dtype=np.float32)
    return cv2.remap(texture, maps[..., 0], maps[..., 1], interpolation, borderMode=cv2.BORDER_CONSTANT,
                     borderValue=0)


def uv_map(raster: Raster, uv_pixels: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Texture position (H×W×2, texture pixels with centres at integers) of every rasterised pixel."""
    return raster.interpolate(uv_pixels - 0.5, triangles)


def luminance_field(image: np.ndarray, region: np.ndarray, max_samples: int = 4000) -> np.ndarray | None:
    """Low-frequency luminance of ``image`` over ``region`` relative to its mean (H×W, 1 = average).

    A quadratic surface c0 + c1·x + c2·y + c3·x² + c4·x·y + c5·y² is fitted by least squares to the
    CIE-Lab L channel of the region's pixels (coordinates normalised to the region's box): it keeps
    the light's direction and falloff across the face and ignores small dark features such as
    nostrils, lips and stubble that a local blur would copy onto the mask. ``None`` if the region has
    too few pixels.
    """
    ys, xs = np.nonzero(region)
    if ys.size < 12:
        return None
    light = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)[..., 0].astype(np.float64)
    if ys.size > max_samples:  # an even subsample: the fit needs few points
        keep = np.linspace(0, ys.size - 1, max_samples).astype(np.int64)
        ys, xs = ys[keep], xs[keep]
    cx, cy = xs.mean(), ys.mean()
    half = max(float(np.ptp(xs)), float(np.ptp(ys)), 1.0) / 2.0

    def design(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u, v = (x - cx) / half, (y - cy) / half
        return np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=-1)

    coef, *_ = np.linalg.lstsq(design(xs.astype(np.float64), ys.astype(np.float64)), light[ys, xs], rcond=None)
    gy, gx = np.mgrid[0:image.shape[0], 0:image.shape[1]].astype(np.float64)
    field = design(gx, gy) @ coef
    mean = float(light[ys, xs].mean())
    return field / max(mean, 1.0)
