"""SDK stage interfaces: detector, landmark locator, aligner and recognizer, composed by a pipeline.

Every stage works on batches: a list of BGR ``uint8`` images (H×W×3, as OpenCV reads them).
"""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

import attrs
import numpy as np


@attrs.define
class Face:
    """One face found in an image; later stages fill in more fields."""

    box: np.ndarray
    """``(x1, y1, x2, y2)`` in pixels."""
    score: float
    landmarks: np.ndarray | None = None
    """K×2 points in pixels (5, 68, 106 or 468 depending on the stage)."""
    layout: str | None = None
    """Name of the landmark layout when the count alone is ambiguous (``"dlib5"``: dlib's 5-point
    model, eye corners and nose base); ``None`` means the layout implied by K (5 = ArcFace order)."""
    depth: np.ndarray | None = None
    """K depths in pixel units (smaller = nearer the camera) when the landmarker gives them
    (MediaPipe FaceMesh); used to draw 3D things such as masks in depth order."""
    crop: np.ndarray | None = None
    """Aligned crop (e.g. 112×112×3) once the aligner ran."""
    embedding: np.ndarray | None = None
    """L2-normalised feature once the recognizer ran."""


class _Stage:
    api_version: ClassVar[int] = 1

    def __init__(self, config: Any) -> None:
        self.config = config


class Detector(_Stage):
    """Images → faces (boxes, scores, optionally coarse landmarks).

    A detector whose config has a probability threshold names that field in a class variable
    ``score_threshold_field`` of its config class; SDK scenes (``--scene masked``) lower it.
    """

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:  # pragma: no cover
        raise NotImplementedError


class Landmarker(_Stage):
    """Images and their faces → the same faces with :attr:`Face.landmarks` filled in."""

    def locate(self, images: Sequence[np.ndarray],
               faces: Sequence[list[Face]]) -> list[list[Face]]:  # pragma: no cover
        raise NotImplementedError


class Aligner(_Stage):
    """Faces with landmarks → faces with an aligned :attr:`Face.crop`."""

    def align(self, images: Sequence[np.ndarray],
              faces: Sequence[list[Face]]) -> list[list[Face]]:  # pragma: no cover
        raise NotImplementedError


class Recognizer(_Stage):
    """Aligned crops → an N×D array of L2-normalised embeddings."""

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


class Pipeline:
    """Detector → (landmarker) → aligner → recognizer over a batch of images."""

    def __init__(self, detector: Detector, aligner: Aligner, recognizer: Recognizer,
                 landmarker: Landmarker | None = None) -> None:
        self.detector = detector
        self.landmarker = landmarker
        self.aligner = aligner
        self.recognizer = recognizer

    def __call__(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        faces = self.detector.detect(images)
        if self.landmarker is not None:
            faces = self.landmarker.locate(images, faces)
        faces = self.aligner.align(images, faces)
        flat = [f for per_image in faces for f in per_image if f.crop is not None]
        if flat:
            emb = self.recognizer.embed([f.crop for f in flat])
            for f, e in zip(flat, emb):
                f.embedding = e
        return faces
