"""The ``fma3d`` mask adder: FaceX-Zoo's FMA-3D with MediaPipe's face mesh instead of PRNet.

FMA-3D's idea: a mask lives as a texture in the UV plane of a dense 3D face model; fitting that model
to any face maps the texture onto it with the face's pose and shape (and hides what the head itself
hides). FaceX-Zoo fits PRNet (a 26.6M-parameter CNN, 43k vertices) and rasterises with a Cython
module; here the model is MediaPipe's 468-vertex FaceMesh, found through the registry (detector +
landmarker components, by default ``mediapipe`` + ``mediapipe_mesh``), and the renderer is the numpy
z-buffer of :mod:`facex_mask_fma3d.render`. Aligned crops on which FaceMesh finds no face get the
canonical mesh fitted to the ArcFace 5-point template instead.

Per image, everything random comes from ``numpy.random.default_rng(seed)`` in a fixed order: the
template index (drawn even when a template is forced), then the augmentations.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

import facex_core
from facex_core import Face, MaskAdder, MaskedImage, arcface_template, as_bgr

from . import augment
from .mesh import canonical_mesh, close_mouth, fit_canonical, mesh_five_points, uv_pixels
from .render import luminance_field, rasterize, sample, uv_map
from .templates import SPECS, builtin_template, load_template, uv_raster

#: mesh sizes taken as a FaceMesh fit (478 = with irises; the first 468 are the mesh).
MESH_SIZES = (468, 478)
#: luminance ratios beyond these are clipped: a mask never turns black or white from shading alone.
SHADE_RANGE = (0.3, 1.7)
#: texels a lifted template is extended past the mesh's UV hull (keeps silhouettes opaque).
LIFT_BLEED = 4


class FaceNotFound(ValueError):
    """No usable face in an image."""


def render_mask(image: np.ndarray, points: np.ndarray, depth: np.ndarray, texture: np.ndarray,
                shading: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Draw a UV ``texture`` (BGRA ``uint8``) on the posed mesh; returns (BGR ``uint8`` image, alpha H×W).

    Within the mesh's bounding box: z-buffer rasterisation, one linear ``cv2.remap`` of the
    alpha-premultiplied texture, optional face shading (the image's low-frequency luminance under the
    mask relative to its mean, raised to ``shading``), then ``image·(1−α) + mask·α``.
    """
    height, width = image.shape[:2]
    lo = np.floor(np.nanmin(points, axis=0)).astype(int) - 1
    hi = np.ceil(np.nanmax(points, axis=0)).astype(int) + 2
    x0, y0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
    x1, y1 = min(int(hi[0]), width), min(int(hi[1]), height)
    out = image.copy()
    alpha_full = np.zeros((height, width))
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise FaceNotFound("face mesh lies outside the image")
    mesh = canonical_mesh()
    raster = rasterize(points - [x0, y0], depth, mesh.triangles, y1 - y0, x1 - x0)
    tex = texture.astype(np.float32)
    tex[..., :3] *= tex[..., 3:] / 255.0  # premultiplied: transparent texels add no colour at edges
    drawn = sample(tex, uv_map(raster, uv_pixels(), mesh.triangles)).astype(np.float64)
    alpha = drawn[..., 3] / 255.0 * raster.covered
    colour = drawn[..., :3] / np.maximum(drawn[..., 3:] / 255.0, 1e-6)
    crop = image[y0:y1, x0:x1].astype(np.float64)
    if shading > 0:
        field = luminance_field(image[y0:y1, x0:x1], alpha > 0.5)
        if field is not None:
            colour *= (np.clip(field, *SHADE_RANGE) ** shading)[..., None]
    blended = crop * (1.0 - alpha[..., None]) + np.clip(colour, 0, 255) * alpha[..., None]
    out[y0:y1, x0:x1] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
    alpha_full[y0:y1, x0:x1] = alpha
    return out, alpha_full


class Fma3dMaskAdder(MaskAdder):
    """FMA-3D mask adder (see the module docstring). Besides the interface it offers
    :meth:`template` (a template's BGRA texture) and :meth:`mask_face` (one face, geometry given)."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._extra: dict[str, np.ndarray] = {}
        for path in config.extra_templates:
            name = Path(path).stem
            if name in SPECS or name in self._extra:
                raise ValueError(f"extra template {path}: name {name!r} is already taken")
            self._extra[name] = load_template(path)
        names = self.templates()
        unknown = [n for n in config.template_pool if n not in names]
        if unknown:
            raise ValueError(f"template_pool names unknown templates {unknown}; known: {', '.join(names)}")
        self._pool = list(config.template_pool) or names
        self._stages: tuple[Any, Any] | None = None

    # ----------------------------------------------------------------------------------- templates
    def templates(self) -> list[str]:
        return [*SPECS, *self._extra]

    def template(self, name: str) -> np.ndarray:
        """The UV_SIZE×UV_SIZE BGRA ``uint8`` texture of a template (read-only)."""
        if name in self._extra:
            return self._extra[name]
        return builtin_template(name)

    # ------------------------------------------------------------------------------------ geometry
    def _face_stages(self) -> tuple[Any, Any]:
        if self._stages is None:
            self._stages = (facex_core.build("detector", self.config.detector),
                            facex_core.build("landmarker", self.config.landmarker))
        return self._stages

    def _find_faces(self, images: list[np.ndarray]) -> list[list[Face]]:
        """All faces with a full mesh in each photo (detector → landmarker)."""
        if not images:
            return []
        detector, landmarker = self._face_stages()
        found = landmarker.locate(images, detector.detect(images))
        return [[f for f in per if _has_mesh(f)] for per in found]

    def _mesh_crops(self, crops: list[np.ndarray]) -> list[Face | None]:
        """FaceMesh on whole aligned crops (the landmarker pads its box), None where it finds nothing."""
        if not crops:
            return []
        _, landmarker = self._face_stages()
        boxes = [[Face(box=np.array([0.0, 0.0, c.shape[1], c.shape[0]]), score=1.0)] for c in crops]
        return [per[0] if per and _has_mesh(per[0]) else None for per in landmarker.locate(crops, boxes)]

    def _aligned_geometry(self, crop: np.ndarray, face: Face | None) -> tuple[np.ndarray, np.ndarray, str]:
        height, width = crop.shape[:2]
        if height != width:
            raise ValueError(f"aligned crops must be square, got {width}×{height}")
        target = arcface_template(width)
        if face is not None:
            points, depth = _mesh_arrays(face)
            error = np.linalg.norm(mesh_five_points(points) - target, axis=1).mean() / width
            if error <= self.config.aligned_tolerance:
                return points, depth, "facemesh"
        points, depth = fit_canonical(target)
        return points, depth, "canonical_fit"

    # -------------------------------------------------------------------------------------- masking
    def add_masks(self, images: Sequence[np.ndarray], seeds: Sequence[int], *, aligned: bool = False,
                  templates: Sequence[str | None] | None = None,
                  faces: Sequence[list[Face]] | None = None) -> list[MaskedImage]:
        n = len(images)
        for label, seq in (("seeds", seeds), ("templates", templates), ("faces", faces)):
            if seq is not None and len(seq) != n:
                raise ValueError(f"got {n} images but {len(seq)} {label}")
        results: list[MaskedImage | None] = [None] * n
        bgr: list[np.ndarray | None] = [None] * n
        for i, image in enumerate(images):
            try:
                bgr[i] = as_bgr(image)
            except (TypeError, ValueError) as exc:
                results[i] = MaskedImage(None, error=f"bad image: {exc}")
        geometry = self._geometries(bgr, aligned, faces, results)
        for i in range(n):
            if results[i] is not None:
                continue
            forced = templates[i] if templates is not None else None
            try:
                results[i] = self.mask_face(bgr[i], *geometry[i][:2], seed=int(seeds[i]), template=forced,
                                            params={"face_model": geometry[i][2]})
            except (FaceNotFound, KeyError, ValueError) as exc:
                results[i] = MaskedImage(None, error=str(exc.args[0]) if exc.args else repr(exc))
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def _geometries(self, bgr: list[np.ndarray | None], aligned: bool, faces: Sequence[list[Face]] | None,
                    results: list[MaskedImage | None]) -> list[Any]:
        """(points, depth, source) per image still pending; sets ``results[i]`` where there is no face."""
        geometry: list[Any] = [None] * len(bgr)
        todo = [i for i, img in enumerate(bgr) if img is not None]
        if faces is not None:
            for i in todo:
                face = _main_face([f for f in faces[i] if f.landmarks is not None])
                try:
                    geometry[i] = _given_geometry(face) if face is not None else None
                except ValueError as exc:
                    results[i] = MaskedImage(None, error=str(exc))
            todo = [i for i in todo if geometry[i] is None and results[i] is None]
        if aligned:
            meshed = (self._mesh_crops([bgr[i] for i in todo]) if self.config.aligned_facemesh
                      else [None] * len(todo))
            for i, face in zip(todo, meshed):
                try:
                    geometry[i] = self._aligned_geometry(bgr[i], face)
                except ValueError as exc:
                    results[i] = MaskedImage(None, error=str(exc))
            return geometry
        for i, found in zip(todo, self._find_faces([bgr[i] for i in todo])):
            face = _main_face(found)
            if face is None:
                results[i] = MaskedImage(None, error="no face")
            else:
                geometry[i] = (*_mesh_arrays(face), "facemesh")
        return geometry

    def mask_face(self, image: np.ndarray, points: np.ndarray, depth: np.ndarray, *, seed: int,
                  template: str | None = None, params: dict[str, Any] | None = None) -> MaskedImage:
        """Mask one face whose posed mesh (468×2 pixels, 468 depths) is known; draws from ``seed``."""
        rng = np.random.default_rng(seed)
        index = int(rng.integers(len(self._pool)))
        name = template if template is not None else self._pool[index]
        if name not in SPECS and name not in self._extra:
            raise KeyError(f"unknown mask template {name!r}")
        draws = augment.draw(rng, self.config)
        texture = augment.apply(self.template(name), draws)
        if self.config.close_mouth:
            points, depth = close_mouth(np.asarray(points, np.float64), np.asarray(depth, np.float64))
        out, _ = render_mask(as_bgr(image), points, depth, texture, self.config.shading)
        return MaskedImage(out, template=name, params={"seed": int(seed), **(params or {}), **draws})

    # --------------------------------------------------------------------------------------- lifting
    def lift_template(self, photo: np.ndarray, matte: np.ndarray) -> np.ndarray:
        """FMA-3D's template making: the face mesh on a masked photo, every UV texel mapped back into the
        photo through its triangle, colour and matte sampled there → a BGRA UV texture.

        ``matte`` is single-channel (or BGR, read as grey), the photo's size, > 0 where the mask is.
        Texels the head hides (z-buffer test) are transparent, or mirrored from the other side with
        ``lift_mirror_fill``. Of several faces the one covering most matte pixels is used.
        """
        image = as_bgr(photo)
        matte = np.asarray(matte)
        if matte.ndim == 3:
            matte = cv2.cvtColor(as_bgr(matte.astype(np.uint8)), cv2.COLOR_BGR2GRAY)
        if matte.shape != image.shape[:2]:
            raise ValueError(f"matte is {matte.shape} but the photo is {image.shape[:2]}")
        matte = matte.astype(np.float32)
        if matte.max() <= 1.0:  # a 0/1 or boolean matte
            matte = matte * 255.0
        candidates = self._find_faces([image])[0]
        if not candidates:
            raise FaceNotFound("lift_template: no face found on the photo (the face mesh needs the eyes and "
                               "the face outline visible)")
        face = max(candidates, key=lambda f: _matte_overlap(matte, f.landmarks[:468]))
        points, depth = _mesh_arrays(face)
        return lift(image, matte, points, depth, self.config.lift_mirror_fill)


def lift(image: np.ndarray, matte: np.ndarray, points: np.ndarray, depth: np.ndarray,
         mirror_fill: bool = True) -> np.ndarray:
    """Inverse of :func:`render_mask`: the UV texture (BGRA ``uint8``) of ``image`` and ``matte`` (float,
    0–255) seen through the posed mesh."""
    mesh = canonical_mesh()
    uv = uv_raster()
    position = uv.interpolate(points, mesh.triangles)  # image (x, y) of every UV texel
    texel_depth = uv.interpolate(depth[:, None], mesh.triangles)[..., 0]
    height, width = image.shape[:2]
    lo = np.maximum(np.floor(points.min(axis=0)).astype(int) - 1, 0)
    hi = np.minimum(np.ceil(points.max(axis=0)).astype(int) + 2, [width, height])
    raster = rasterize(points - lo, depth, mesh.triangles, int(hi[1] - lo[1]), int(hi[0] - lo[0]))
    col = np.clip(np.round(position[..., 0]).astype(int) - lo[0], 0, raster.depth.shape[1] - 1)
    row = np.clip(np.round(position[..., 1]).astype(int) - lo[1], 0, raster.depth.shape[0] - 1)
    tolerance = 0.02 * float(np.ptp(points, axis=0).max())
    inside = ((position[..., 0] >= 0) & (position[..., 0] <= width - 1) & (position[..., 1] >= 0)
              & (position[..., 1] <= height - 1))
    visible = uv.covered & inside & (texel_depth <= raster.depth[row, col] + tolerance)
    colour = sample(image, position)
    alpha = sample(matte, position) * visible
    if mirror_fill:
        hidden = uv.covered & ~visible
        mirror_ok = visible[:, ::-1]
        take = hidden & mirror_ok
        colour[take] = colour[:, ::-1][take]
        alpha[take] = alpha[:, ::-1][take]
        visible = visible | take
    colour[~visible] = 0
    out = np.dstack([colour, np.clip(np.round(alpha), 0, 255).astype(np.uint8)])
    return _bleed(out, visible, LIFT_BLEED)


def _bleed(texture: np.ndarray, valid: np.ndarray, width: int) -> np.ndarray:
    """Copy each valid texel's value to invalid texels within ``width`` (nearest valid one)."""
    dist, labels = cv2.distanceTransformWithLabels((~valid).astype(np.uint8), cv2.DIST_L2, 5,
                                                   labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(valid)
    if ys.size == 0:
        return texture
    lookup = np.zeros((labels.max() + 1, 2), dtype=np.int64)
    lookup[labels[ys, xs]] = np.column_stack([ys, xs])
    near = (~valid) & (dist <= width)
    src = lookup[labels[near]]
    out = texture.copy()
    out[near] = texture[src[:, 0], src[:, 1]]
    return out


def _has_mesh(face: Face) -> bool:
    return face.landmarks is not None and len(face.landmarks) in MESH_SIZES


def _main_face(faces: list[Face]) -> Face | None:
    """The largest face (box area) of a list; None if empty."""
    def area(f: Face) -> float:
        x1, y1, x2, y2 = np.asarray(f.box, dtype=np.float64).reshape(4)
        return (x2 - x1) * (y2 - y1)
    return max(faces, key=area) if faces else None


def _mesh_arrays(face: Face) -> tuple[np.ndarray, np.ndarray]:
    """(468×2 points, 468 depths) of a meshed face; depth from the canonical fit when missing."""
    points = np.asarray(face.landmarks, dtype=np.float64)[:468]
    if face.depth is not None:
        return points, np.asarray(face.depth, dtype=np.float64)[:468]
    return points, fit_canonical(mesh_five_points(points))[1]


def _given_geometry(face: Face) -> tuple[np.ndarray, np.ndarray, str]:
    count = len(face.landmarks)
    if count in MESH_SIZES:
        return (*_mesh_arrays(face), "facemesh")
    if count == 5 and face.layout is None:
        return (*fit_canonical(face.landmarks), "canonical_fit")
    raise ValueError(f"given landmarks ({count} points, layout {face.layout!r}) are neither a 468/478-point "
                     f"face mesh nor ArcFace 5 points")


def _matte_overlap(matte: np.ndarray, points: np.ndarray) -> float:
    hull = cv2.convexHull(np.round(points).astype(np.int32))
    region = np.zeros(matte.shape, np.uint8)
    cv2.fillConvexPoly(region, hull, 1)
    return float(matte[region > 0].sum())
