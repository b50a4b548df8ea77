"""SDK stage interfaces: detector, landmark locator, aligner and recognizer, composed by a pipeline.

Every stage works on batches: a list of BGR ``uint8`` images (H×W×3, as OpenCV reads them).
"""
from __future__ import annotations

import abc

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


class _Stage(abc.ABC):
    """A stage of the face SDK: built from its config object."""

    api_version: ClassVar[int] = 1

    def __init__(self, config: Any) -> None:
        self.config = config


class Detector(_Stage):
    """Images → faces (boxes, scores, optionally coarse landmarks).

    A detector whose config has a probability threshold names that field in a class variable
    ``score_threshold_field`` of its config class; SDK scenes (``--scene masked``) lower it.
    """

    @abc.abstractmethod
    def detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        """Per image, the faces found (box, score, the detector's own landmarks if any)."""


class Landmarker(_Stage):
    """Images and their faces → the same faces with :attr:`Face.landmarks` filled in."""

    @abc.abstractmethod
    def locate(self, images: Sequence[np.ndarray], faces: Sequence[list[Face]]) -> list[list[Face]]:
        """The faces of each image with their landmarks (and ``layout``) set."""


class Aligner(_Stage):
    """Faces with landmarks → faces with an aligned :attr:`Face.crop`."""

    @abc.abstractmethod
    def align(self, images: Sequence[np.ndarray], faces: Sequence[list[Face]]) -> list[list[Face]]:
        """The faces of each image with ``crop`` set (left ``None`` where alignment is impossible)."""


class Recognizer(_Stage):
    """Aligned crops → an N×D array of L2-normalised embeddings."""

    @abc.abstractmethod
    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """One L2-normalised row per crop."""


def pick_face(faces: Sequence[Face], how: str = "largest", need: str = "embedding") -> Face | None:
    """The face an image stands for: the ``largest`` box or the ``best`` score among the faces whose
    ``need`` field (``embedding``, ``crop`` or ``box``) is filled in; ``None`` when there is none."""
    usable = [f for f in faces if getattr(f, need) is not None]
    if not usable:
        return None
    if how == "best":
        return max(usable, key=lambda f: f.score)
    return max(usable, key=lambda f: float(np.prod(np.asarray(f.box[2:], float) - np.asarray(f.box[:2], float))))


class Pipeline:
    """Detector → (landmarker) → aligner → recognizer over a batch of images: the one stage chain
    of FaceX (the SDK commands, ``data align`` and the Python API all run this)."""

    def __init__(self, detector: Detector, aligner: Aligner | None = None, recognizer: Recognizer | None = None,
                 landmarker: Landmarker | None = None) -> None:
        self.detector = detector
        self.landmarker = landmarker
        self.aligner = aligner
        self.recognizer = recognizer

    def __call__(self, images: Sequence[np.ndarray], *, align: bool = True, embed: bool = True) -> list[list[Face]]:
        """Faces per image: detected and located, then aligned (``align``) and embedded (``embed``)."""
        faces = self.detector.detect(images)
        if self.landmarker is not None:
            faces = self.landmarker.locate(images, faces)
        if not (align or embed):
            return faces
        if self.aligner is None:
            raise ValueError("this pipeline has no aligner")
        faces = self.aligner.align(images, faces)
        flat = [f for per_image in faces for f in per_image if f.crop is not None]
        if embed and flat:
            if self.recognizer is None:
                raise ValueError("this pipeline has no recognizer")
            for f, e in zip(flat, self.recognizer.embed([f.crop for f in flat])):
                f.embedding = e
        return faces
