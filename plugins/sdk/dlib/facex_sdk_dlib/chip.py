"""dlib's face chips: ``dlib.get_face_chip`` with a ``full_object_detection`` made from the face's points.

``get_face_chip`` accepts 5 points in dlib's 5-point order or 68 iBUG points; it fits a similarity
transform from them to dlib's mean face and resamples a ``size``×``size`` chip with ``padding`` (a
fraction of the face size) around it. Landmark layouts accepted (:func:`dlib_points`):

* ``"dlib5"``, 5 points (``dlib_5pt``): as they are;
* 68 points, layout ``None`` (iBUG 300-W: ``dlib_68pt``, face_alignment, ...): as they are;
* 468 / 478 points, layout ``None`` (MediaPipe FaceMesh): :data:`MEDIAPIPE_TO_DLIB5` picks the
  vertices at dlib's five points: outer / inner corner of the image-right eye (263, 362), outer /
  inner corner of the image-left eye (33, 133) and the nose base (2, subnasale).

dlib stores points as whole pixels, so points are rounded (half away from zero, as ``dlib.point``
does). The image goes to dlib as BGR: the resampling treats channels alike, so the chip is the
BGR version of dlib's RGB chip.
"""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

import dlib
import numpy as np

from facex_core import Aligner, as_bgr

#: MediaPipe FaceMesh vertex at each of dlib's 5 points (order of layout ``"dlib5"``).
MEDIAPIPE_TO_DLIB5 = (263, 362, 33, 133, 2)


def dlib_points(landmarks: Any, layout: str | None) -> np.ndarray:
    """The 5 (``dlib5``) or 68 (iBUG) points ``get_face_chip`` takes, from a supported layout."""
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"landmarks must be K×2, got shape {pts.shape}")
    k = pts.shape[0]
    if layout == "dlib5" and k == 5:
        return pts
    if layout is None and k == 68:
        return pts
    if layout is None and k in (468, 478):
        return pts[list(MEDIAPIPE_TO_DLIB5)]
    hint = " (ArcFace order: use aligner arcface_5pt, or landmarker dlib_5pt)" if k == 5 else ""
    raise ValueError(f"dlib_chip takes layout 'dlib5' (5 points), 68 iBUG points or MediaPipe's 468/478; "
                     f"got {k} points with layout {layout!r}{hint}")


def face_detection(points: np.ndarray) -> Any:
    """A ``dlib.full_object_detection`` holding ``points`` (rounded to whole pixels).

    ``get_face_chip`` reads only the points, so the rectangle is left empty.
    """
    return dlib.full_object_detection(dlib.rectangle(0, 0, 0, 0), dlib.points([dlib.point(p) for p in points]))


class DlibChipAligner(Aligner):
    """Fills :attr:`facex_core.Face.crop` (size×size×3 BGR uint8) of every face with usable landmarks.

    Faces without landmarks, or with non-finite ones, keep ``crop = None`` (the pipeline skips them);
    a layout :func:`dlib_points` does not take is a ``ValueError``. Faces are updated in place.
    """

    # what facex-sdk checks when it composes a pipeline (facex_sdk.fit)
    accepts_layouts: ClassVar[tuple[str, ...]] = ("dlib5", "ibug68", "mesh468", "mesh478")
    crop_template: ClassVar[str] = "dlib_chip"
    crop_size_field: ClassVar[str] = "size"
    crop_channels: ClassVar[str] = "bgr"

    def align(self, images: Sequence[np.ndarray], faces: Sequence[list[Any]]) -> list[list[Any]]:
        if len(images) != len(faces):
            raise ValueError(f"dlib_chip: {len(images)} images but {len(faces)} lists of faces")
        for image, per_image in zip(images, faces):
            usable = [(f, dlib_points(f.landmarks, f.layout)) for f in per_image if f.landmarks is not None]
            usable = [(f, pts) for f, pts in usable if np.isfinite(pts).all()]
            bgr = as_bgr(image) if usable else None
            for face, pts in usable:
                face.crop = dlib.get_face_chip(bgr, face_detection(pts), self.config.size, self.config.padding)
        return [list(per_image) for per_image in faces]
