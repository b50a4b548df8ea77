"""5-point similarity alignment to the ArcFace 112×112 template (FaceX-Zoo's ``FaceRecImageCropper``).

The five points are, in image terms: the eye on the image's left, the eye on the image's right, the
nose tip, the mouth corner on the image's left, the one on the image's right (for a frontal face the
image-left eye is the subject's right eye). A least-squares similarity (rotation, uniform scale,
translation; no reflection) maps them onto the template; the crop is ``cv2.warpAffine`` with a
constant 0 border, as in FaceX-Zoo (which uses skimage's ``SimilarityTransform.estimate``; the
estimate below is the same closed form, Umeyama 1991, written from the paper).

Landmark layouts mapped to the five points (:data:`LAYOUTS`, 0-based indices; a point given by
several indices is their mean):

* 5: as is (RetinaFace, InsightFace order).
* 25: FaceX-Zoo ``utils/lms_trans.py``: 1-based points 1, 2, 8, 11, 12 → 0, 1, 7, 10, 11.
* 68 (iBUG 300-W markup, dlib / face_alignment): eye centres = mean of 36–41 and of 42–47 (the
  contours of the image-left and image-right eye), nose tip 30, mouth corners 48 and 54.
* 106 (FaceX-Zoo's PFLD, JD-landmark layout): FaceX-Zoo ``utils/lms_trans.py`` takes 1-based 105,
  106 (eye centres), 55 (nose tip), 85, 91 (mouth corners) → 104, 105, 54, 84, 90.
* 468 (MediaPipe FaceMesh): eye centres = midpoint of the corners 33/133 (image-left eye,
  MediaPipe's ``FACEMESH_RIGHT_EYE``) and 362/263 (``FACEMESH_LEFT_EYE``), nose tip 1, mouth corners
  61 and 291 (``FACEMESH_LIPS``); indices from ``mediapipe/python/solutions/face_mesh_connections.py``
  and checked on MediaPipe's canonical face mesh (x of 33 < 133 < 362 < 263, 1 on the midline below
  the eyes, 61/291 the lip corners).
* 478 (MediaPipe with ``refine_landmarks``): as 468 but the eyes are the iris centres 468 and 473;
  which one is image-left is decided by its distance to the 33/133 and 362/263 corner midpoints.

Layouts whose count is ambiguous or that lack some of the five points are named by
:attr:`facex_core.Face.layout` (:data:`NAMED_LAYOUTS`); the transform is then fitted to the points they
do have:

* ``"mediapipe6"`` (MediaPipe face detection keypoints: image-left eye, image-right eye, nose tip,
  mouth centre, two ear tragions): the eyes, the nose tip, and the mouth centre matched to the midpoint
  of the template's mouth corners; the ears have no template point and are ignored.
* ``"dlib5"`` (dlib's 5-point model: image-right eye outer and inner corner, image-left eye outer and
  inner corner, nose base): the two eye centres only (a similarity is fully determined by two
  points). The nose base (subnasale) is not the template's nose tip, and pairing them would pull
  every crop upwards.
"""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

import cv2
import numpy as np

from facex_core import ARCFACE_TEMPLATE_112, Aligner, arcface_template, as_bgr, umeyama

#: ArcFace 5-point template for a 112×112 crop (the core's :data:`facex_core.ARCFACE_TEMPLATE_112`).
ARCFACE_112 = ARCFACE_TEMPLATE_112

#: number of landmarks → for each of the 5 points the indices averaged to get it.
LAYOUTS: dict[int, tuple[tuple[int, ...], ...]] = {
    5: ((0,), (1,), (2,), (3,), (4,)),
    25: ((0,), (1,), (7,), (10,), (11,)),
    68: (tuple(range(36, 42)), tuple(range(42, 48)), (30,), (48,), (54,)),
    106: ((104,), (105,), (54,), (84,), (90,)),
    468: ((33, 133), (362, 263), (1,), (61,), (291,)),
    478: ((468,), (473,), (1,), (61,), (291,)),
}

#: layout name → (indices averaged into a source point, template rows averaged into its target) pairs.
NAMED_LAYOUTS: dict[str, tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]] = {
    "mediapipe6": (((0,), (0,)), ((1,), (1,)), ((2,), (2,)), ((3,), (3, 4))),
    "dlib5": (((2, 3), (0,)), ((0, 1), (1,))),
}
#: landmark count each named layout has.
NAMED_COUNTS = {"mediapipe6": 6, "dlib5": 5}

INTERPOLATION = {"nearest": cv2.INTER_NEAREST, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC,
                 "area": cv2.INTER_AREA, "lanczos": cv2.INTER_LANCZOS4}


def five_points(landmarks: Any) -> np.ndarray:
    """The 5 alignment points (5×2 float64) of a K×2 (or flat 2K) landmark array, K in :data:`LAYOUTS`."""
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.ndim == 1 and pts.size % 2 == 0:
        pts = pts.reshape(-1, 2)
    if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] not in LAYOUTS:
        raise ValueError(f"landmarks must be K×2 with K in {sorted(LAYOUTS)}, got shape {np.shape(landmarks)}")
    out = np.array([pts[list(idx)].mean(axis=0) for idx in LAYOUTS[pts.shape[0]]])
    if pts.shape[0] == 478:  # put the iris centre nearer the 33/133 corners first
        left_corners, right_corners = pts[[33, 133]].mean(0), pts[[362, 263]].mean(0)
        a, b = out[0], out[1]
        if (np.linalg.norm(a - left_corners) + np.linalg.norm(b - right_corners)
                > np.linalg.norm(b - left_corners) + np.linalg.norm(a - right_corners)):
            out[[0, 1]] = out[[1, 0]]
    return out


template = arcface_template


def point_pairs(landmarks: Any, layout: str | None = None, size: int = 112) -> tuple[np.ndarray, np.ndarray]:
    """Matched (image points, template points) for landmarks of ``layout`` (``None``: implied by K)."""
    if layout is None:
        return five_points(landmarks), template(size)
    if layout not in NAMED_LAYOUTS:
        raise ValueError(f"unknown landmark layout {layout!r}; known: {sorted(NAMED_LAYOUTS)} "
                         f"or None (5, 25, 68, 106, 468 or 478 points)")
    pts = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    if pts.shape[0] != NAMED_COUNTS[layout]:
        raise ValueError(f"layout {layout!r} has {NAMED_COUNTS[layout]} points, got {pts.shape[0]}")
    tpl = template(size)
    src = np.array([pts[list(idx)].mean(axis=0) for idx, _ in NAMED_LAYOUTS[layout]])
    dst = np.array([tpl[list(rows)].mean(axis=0) for _, rows in NAMED_LAYOUTS[layout]])
    return src, dst


def alignment_matrix(landmarks: Any, size: int = 112, layout: str | None = None) -> np.ndarray:
    """2×3 affine matrix taking image pixels to crop pixels for these landmarks."""
    return umeyama(*point_pairs(landmarks, layout, size))[:2]


def warp(image: np.ndarray, matrix: np.ndarray, size: int = 112, interpolation: str = "linear",
         border_value: int = 0) -> np.ndarray:
    """``cv2.warpAffine`` into a ``size``×``size`` crop with a constant border."""
    return cv2.warpAffine(image, np.asarray(matrix, dtype=np.float64), (size, size),
                          flags=INTERPOLATION[interpolation], borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(border_value,) * 3)


def align_face(image: np.ndarray, landmarks: Any, size: int = 112, **kwargs: Any) -> np.ndarray:
    """Aligned ``size``×``size`` crop of one face."""
    return warp(image, alignment_matrix(landmarks, size), size, **kwargs)


class ArcFace5ptAligner(Aligner):
    """Fills :attr:`facex_core.Face.crop` (size×size×3 BGR uint8) of every face that has landmarks.

    Faces without landmarks (or with coinciding points) keep ``crop = None``; the pipeline skips them.
    The faces are updated in place and returned in the same nesting.
    """

    # what facex-sdk checks when it composes a pipeline (facex_sdk.fit)
    accepts_layouts: ClassVar[tuple[str, ...]] = ("arcface5", "facexzoo25", "ibug68", "jd106", "mesh468",
                                                  "mesh478", "mediapipe6", "dlib5")
    crop_template: ClassVar[str] = "arcface"
    crop_size_field: ClassVar[str] = "size"
    crop_channels: ClassVar[str] = "bgr"

    def align(self, images: Sequence[np.ndarray], faces: Sequence[list[Any]]) -> list[list[Any]]:
        cfg = self.config
        if len(images) != len(faces):
            raise ValueError(f"got {len(images)} images but {len(faces)} face lists")
        out = []
        for image, per_image in zip(images, faces):
            img = None
            for face in per_image:
                if face.landmarks is None:
                    continue
                points = np.asarray(face.landmarks, dtype=np.float64)
                if cfg.truncate_landmarks:
                    points = points.astype(np.int32).astype(np.float64)
                try:
                    matrix = alignment_matrix(points, cfg.size, getattr(face, "layout", None))
                except ValueError as exc:
                    if "coincide" in str(exc):
                        continue
                    raise
                if img is None:
                    img = as_bgr(image)
                face.crop = warp(img, matrix, cfg.size, cfg.interpolation, cfg.border_value)
            out.append(list(per_image))
        return out
