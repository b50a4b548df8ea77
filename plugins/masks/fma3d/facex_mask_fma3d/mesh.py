"""MediaPipe's canonical face mesh (468 vertices, their UV coordinates, 898 triangles) and fits of it.

The arrays ship in ``data/canonical_face_mesh.npz`` (Apache-2.0, MediaPipe; see ``data/NOTICE``).
Vertex *i* is FaceMesh landmark *i*, so a FaceMesh fit of a photo is directly a posed copy of this
mesh, and the UV coordinates place every landmark in the texture plane of the mask templates.
Canonical vertices are in cm with x to the image's right, y up and z towards the camera; UV has
v growing downwards (≈0.55 at the nose bridge, ≈0.95 at the chin) and is mirror-symmetric about
u = 0.5, which is what makes FMA-3D's horizontal template flip meaningful.
"""
from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import attrs
import numpy as np

from facex_core import umeyama

#: side of the UV texture square, in pixels (FMA-3D's templates and position maps are 256×256).
UV_SIZE = 256

#: FaceMesh indices giving the five ArcFace points (a point of two indices is their midpoint):
#: image-left eye (corners 33/133), image-right eye (362/263), nose tip 1, mouth corners 61 and 291.
FIVE_POINT_INDICES = ((33, 133), (362, 263), (1,), (61,), (291,))


@attrs.frozen(eq=False)
class CanonicalMesh:
    """The canonical mesh arrays (read-only)."""

    vertices: np.ndarray
    """468×3 canonical positions (cm; x right, y up, z towards the camera)."""
    uv: np.ndarray
    """468×2 texture coordinates in [0, 1] (v downwards)."""
    triangles: np.ndarray
    """898×3 vertex indices."""


@functools.lru_cache(maxsize=1)
def canonical_mesh() -> CanonicalMesh:
    """The packaged canonical mesh (loaded once; plain arrays, no pickle)."""
    ref = resources.files("facex_mask_fma3d") / "data" / "canonical_face_mesh.npz"
    with resources.as_file(ref) as path, np.load(path, allow_pickle=False) as data:
        arrays = {k: np.array(data[k]) for k in ("vertices", "uv", "triangles")}
    for value in arrays.values():
        value.setflags(write=False)
    return CanonicalMesh(vertices=arrays["vertices"].astype(np.float64), uv=arrays["uv"].astype(np.float64),
                         triangles=arrays["triangles"].astype(np.int64))


def uv_pixels(indices: Any = None) -> np.ndarray:
    """UV coordinates scaled to :data:`UV_SIZE` texture pixels (all vertices or the given ones)."""
    uv = canonical_mesh().uv * UV_SIZE
    return uv if indices is None else uv[np.asarray(indices)]


def mesh_five_points(points: np.ndarray) -> np.ndarray:
    """The five ArcFace-order points (5×d) of a 468×d array of FaceMesh vertices."""
    return np.array([points[list(idx)].mean(axis=0) for idx in FIVE_POINT_INDICES])


def fit_canonical(five_points: Any) -> tuple[np.ndarray, np.ndarray]:
    """Pose the canonical mesh on five ArcFace-order image points: (468×2 pixels, 468 depths).

    A weak-perspective (orthographic + similarity) projection: the canonical vertices seen from the
    front, (x, −y) in image axes, mapped by the least-squares similarity that takes the mesh's own
    eye/nose/mouth points onto the given ones; depth is −z times the same scale (smaller = nearer).
    Used for aligned crops and low-quality faces where FaceMesh itself finds nothing.
    """
    target = np.asarray(five_points, dtype=np.float64).reshape(5, 2)
    verts = canonical_mesh().vertices
    frontal = np.column_stack([verts[:, 0], -verts[:, 1]])
    matrix = umeyama(mesh_five_points(frontal), target)[:2]
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
    if not np.isfinite(scale) or scale <= 1e-9:
        raise ValueError("the five points coincide: cannot fit the face mesh")
    points = frontal @ matrix[:, :2].T + matrix[:, 2]
    return points, -verts[:, 2] * scale


@functools.lru_cache(maxsize=1)
def _mouth_sets() -> tuple[np.ndarray, np.ndarray]:
    """Vertex ids of the lips (an ellipse around the mouth in UV) and of the ring of face around them."""
    uv = canonical_mesh().uv
    centre = uv[[13, 14]].mean(axis=0)
    lips = ((uv - centre) / [0.14, 0.055]) ** 2
    ring = ((uv - centre) / [0.26, 0.16]) ** 2
    inner = lips.sum(axis=1) <= 1.0
    return np.flatnonzero(inner), np.flatnonzero((ring.sum(axis=1) <= 1.0) & ~inner)


def close_mouth(points: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move the lip vertices onto a smooth fit of the face around them (a mask does not follow the lips).

    A quadratic map from UV to (x, y, depth) is fitted by least squares to the ring of vertices
    around the mouth and replaces the positions of the lip vertices; an open or smiling mouth then
    no longer drags the mask's texture into the mouth's thin UV strip.
    """
    lips, ring = _mouth_sets()
    uv = canonical_mesh().uv

    def design(idx: np.ndarray) -> np.ndarray:
        u, v = uv[idx, 0] - 0.5, uv[idx, 1] - 0.7
        return np.column_stack([np.ones_like(u), u, v, u * u, u * v, v * v])

    target = np.column_stack([points[ring], depth[ring]])
    coef, *_ = np.linalg.lstsq(design(ring), target, rcond=None)
    fitted = design(lips) @ coef
    points, depth = points.copy(), depth.copy()
    points[lips], depth[lips] = fitted[:, :2], fitted[:, 2]
    return points, depth
