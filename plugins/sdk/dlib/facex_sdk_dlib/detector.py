"""dlib's face detectors: HOG + linear SVM (``get_frontal_face_detector``) and the CNN (MMOD) model.

Boxes are dlib's rectangles as FaceX ``(x1, y1, x2, y2)``: ``(left, top, right + 1, bottom + 1)``,
since dlib's right/bottom are the last pixel inside. They are not clipped to the image (dlib may
report a face partly outside it), so that :func:`facex_sdk_dlib.common.box_to_rect` gives the shape
predictors exactly the rectangle dlib found. Faces come sorted by score, best first.
"""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

import dlib
import numpy as np

from facex_core import Detector, Face, as_rgb

from .common import model_path, rect_to_box


class DlibHogDetector(Detector):
    """``dlib.get_frontal_face_detector()``; the score is the SVM margin (``run``'s detection scores)."""

    landmark_layouts: ClassVar[tuple[str, ...]] = ()  # boxes only (checked by facex_sdk.fit)

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.model = dlib.get_frontal_face_detector()

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        out = []
        for image in images:
            rects, scores, _ = self.model.run(as_rgb(image), self.config.upsample, self.config.min_score)
            faces = [Face(box=rect_to_box(r), score=float(s)) for r, s in zip(rects, scores)]
            out.append(sorted(faces, key=lambda f: -f.score))
        return out


class DlibCnnDetector(Detector):
    """``dlib.cnn_face_detection_model_v1`` (mmod_human_face_detector.dat); score = MMOD confidence."""

    landmark_layouts: ClassVar[tuple[str, ...]] = ()  # boxes only (checked by facex_sdk.fit)

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.model = dlib.cnn_face_detection_model_v1(str(model_path(config.models_dir, "cnn")))

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        out = []
        for image in images:
            found = self.model(as_rgb(image), self.config.upsample)
            faces = [Face(box=rect_to_box(d.rect), score=float(d.confidence)) for d in found
                     if d.confidence >= self.config.min_score]
            out.append(sorted(faces, key=lambda f: -f.score))
        return out
