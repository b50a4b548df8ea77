"""MediaPipe FaceMesh (468 points, 478 with irises) as a FaceX :class:`facex_core.Landmarker`.

For each face box: a square of side ``max(w, h) · (1 + 2·margin)`` centred on the box is cut out
(padded by edge replication or black where it leaves the image), resized to ``crop_size`` and given to
``mediapipe.solutions.face_mesh.FaceMesh(static_image_mode=True)``, which finds the face in the crop
with its own detector and fits the mesh. Of the faces it finds, the one whose landmark centroid is
nearest the crop centre is kept. Its normalised (x, y, z) map back to image pixels as
``(left + x·side, top + y·side)`` and depth ``z·side``: MediaPipe's z is in the crop's x units, relative
to the head's centre, smaller = nearer the camera. If no face is found the face is left untouched
(e.g. with the detector's keypoints).

The padding also lets FaceMesh see a face in a tight, aligned 112×112 crop whose box is the whole
image; the tests check this on ArcFace-aligned crops of real photos.
"""
from __future__ import annotations

import math
from typing import Any, ClassVar, Sequence

import cv2
import numpy as np

from facex_core import Face, Landmarker

from ._graph import SolutionOwner, batch_rgb, check_batch
from ._import import import_mediapipe

#: faces FaceMesh may return per crop: more than one lets the centre rule reject a neighbour's face.
MAX_FACES_PER_CROP = 3
BORDERS = {"replicate": cv2.BORDER_REPLICATE, "constant": cv2.BORDER_CONSTANT}


def square_region(box: Any, margin: float) -> tuple[int, int, int] | None:
    """(left, top, side) in whole pixels of the expanded square around ``box``; None if degenerate."""
    x1, y1, x2, y2 = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        return None
    extent = max(x2 - x1, y2 - y1) * (1.0 + 2.0 * margin)
    if extent < 2.0:
        return None
    side = int(math.ceil(extent))
    left = int(math.floor((x1 + x2) / 2.0 - side / 2.0))
    top = int(math.floor((y1 + y2) / 2.0 - side / 2.0))
    return left, top, side


def cut_square(image: np.ndarray, left: int, top: int, side: int, border: int) -> np.ndarray:
    """The ``side``×``side`` region at (left, top), padded with ``border`` where it leaves the image."""
    height, width = image.shape[:2]
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + side, width), min(top + side, height)
    if x0 >= x1 or y0 >= y1:  # wholly outside: nothing of the image to mesh
        return np.zeros((side, side, 3), dtype=image.dtype)
    return cv2.copyMakeBorder(image[y0:y1, x0:x1], y0 - top, top + side - y1, x0 - left,
                              left + side - x1, border, value=(0, 0, 0))


class MediaPipeMeshLandmarker(SolutionOwner, Landmarker):
    """Fills :attr:`Face.landmarks` (K×2 pixels, K = 468 or 478) and :attr:`Face.depth` (K pixels,
    smaller = nearer) of every face FaceMesh finds in its box's crop; sets ``layout`` to None."""

    landmark_layouts: ClassVar[tuple[str, ...]] = ("mesh468", "mesh478")  # checked by facex_sdk.fit

    def _create_solution(self) -> Any:
        mp = import_mediapipe()
        return mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=MAX_FACES_PER_CROP,
            refine_landmarks=self.config.refine_landmarks, min_detection_confidence=self.config.min_score)

    def _mesh(self, rgb: np.ndarray, face: Face) -> None:
        cfg = self.config
        region = square_region(face.box, cfg.margin)
        if region is None:
            return
        left, top, side = region
        crop = cut_square(rgb, left, top, side, BORDERS[cfg.border])
        interpolation = cv2.INTER_AREA if side > cfg.crop_size else cv2.INTER_LINEAR
        crop = cv2.resize(crop, (cfg.crop_size, cfg.crop_size), interpolation=interpolation)
        result = self.process(crop)
        if not result.multi_face_landmarks:
            return
        meshes = [np.array([(p.x, p.y, p.z) for p in found.landmark], dtype=np.float64)
                  for found in result.multi_face_landmarks]
        best = min(meshes, key=lambda m: float(np.hypot(*(m[:, :2].mean(axis=0) - 0.5))))
        face.landmarks = best[:, :2] * side + np.array([left, top], dtype=np.float64)
        face.depth = best[:, 2] * side
        face.layout = None

    def locate(self, images: Sequence[Any], faces: Sequence[list[Face]]) -> list[list[Face]]:
        check_batch(images)
        if len(images) != len(faces):
            raise ValueError(f"got {len(images)} images but {len(faces)} face lists")
        out = []
        for i, (image, per_image) in enumerate(zip(images, faces)):
            if per_image:
                rgb = batch_rgb(image, i)
                for face in per_image:
                    self._mesh(rgb, face)
            out.append(list(per_image))
        return out
