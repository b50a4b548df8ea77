"""dlib's shape predictors (ensembles of regression trees, Kazemi & Sullivan 2014) inside face boxes.

``dlib_5pt`` (shape_predictor_5_face_landmarks.dat) gives layout ``"dlib5"``, in this order
(checked on obama.jpg; image-left is the subject's right):

0. outer corner of the image-right eye
1. inner corner of the image-right eye
2. outer corner of the image-left eye
3. inner corner of the image-left eye
4. base of the nose (subnasale, where the septum meets the upper lip)

``dlib_68pt`` (shape_predictor_68_face_landmarks.dat) gives the iBUG 300-W markup (layout ``None``):
jaw 0–16, brows 17–26, nose 27–35, image-left eye 36–41, image-right eye 42–47, mouth 48–67.

dlib predicts whole-pixel points. The models were fit to dlib's HOG boxes; other detectors' boxes
(a different margin around the face) shift the points somewhat, the 68-point model most.
"""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

import dlib
import numpy as np

from facex_core import Landmarker, as_rgb

from .common import box_to_rect, model_path


class _DlibShapeLandmarker(Landmarker):
    model_key: str = ""
    layout: str | None = None

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.model = dlib.shape_predictor(str(model_path(config.models_dir, self.model_key)))

    def locate(self, images: Sequence[np.ndarray], faces: Sequence[list[Any]]) -> list[list[Any]]:
        """Fill ``landmarks`` (K×2 float64 pixels), ``layout`` of every face, in place; same nesting."""
        if len(images) != len(faces):
            raise ValueError(f"{type(self).__name__}: {len(images)} images but {len(faces)} lists of faces")
        out = []
        for image, per_image in zip(images, faces):
            rgb = as_rgb(image) if per_image else None
            for face in per_image:
                shape = self.model(rgb, box_to_rect(face.box))
                face.landmarks = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
                face.layout = self.layout
                face.depth = None  # a previous stage's depths belong to other points
            out.append(list(per_image))
        return out


class Dlib5ptLandmarker(_DlibShapeLandmarker):
    """5 points: eye corners and nose base, layout ``"dlib5"`` (order in the module docstring)."""

    model_key = "5pt"
    layout = "dlib5"
    landmark_layouts: ClassVar[tuple[str, ...]] = ("dlib5",)  # checked by facex_sdk.fit


class Dlib68ptLandmarker(_DlibShapeLandmarker):
    """68 points, iBUG 300-W markup (layout ``None``). Trained on 300-W: not for commercial use."""

    model_key = "68pt"
    layout = None
    landmark_layouts: ClassVar[tuple[str, ...]] = ("ibug68",)  # checked by facex_sdk.fit
