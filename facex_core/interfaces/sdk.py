"""Face SDK stages (detector → landmarker → aligner → recognizer; mask adder) over batches of BGR ``uint8``
images, and the alignment geometry aligners share: the ArcFace template and the similarity fit."""
from __future__ import annotations

import abc
from typing import Any, ClassVar, Sequence

import attrs
import numpy as np


@attrs.define
class Face:
    """One face found in an image; later stages fill in more fields."""

    box: np.ndarray  #: ``(x1, y1, x2, y2)`` in pixels.
    score: float
    landmarks: np.ndarray | None = None  #: K×2 points in pixels (5, 68, 106 or 468 depending on the stage).
    layout: str | None = None  #: Landmark layout when K is ambiguous (``"dlib5"``); None: implied by K (5: ArcFace).
    depth: np.ndarray | None = None  #: K depths in pixels (smaller = nearer), e.g. from MediaPipe FaceMesh.
    crop: np.ndarray | None = None  #: Aligned crop (e.g. 112×112×3) once the aligner ran.
    embedding: np.ndarray | None = None  #: L2-normalised feature once the recognizer ran.


class _Stage(abc.ABC):
    api_version: ClassVar[int] = 1

    def __init__(self, config: Any) -> None:
        self.config = config


class Detector(_Stage):
    """Images → faces (boxes, scores, optionally coarse landmarks); a config class names its probability
    threshold field in ``score_threshold_field`` (``--scene masked`` lowers it)."""

    #: Landmark layouts it sets (``()``: none; ``None``: undeclared): a pipeline checks its aligner takes one.
    landmark_layouts: ClassVar[tuple[str, ...] | None] = None

    @abc.abstractmethod
    def detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        """Per image, the faces found (box, score, the detector's own landmarks if any)."""


class Landmarker(_Stage):
    """Images and their faces → the same faces with :attr:`Face.landmarks` filled in."""

    landmark_layouts: ClassVar[tuple[str, ...] | None] = None  #: As :attr:`Detector.landmark_layouts`.

    @abc.abstractmethod
    def locate(self, images: Sequence[np.ndarray], faces: Sequence[list[Face]]) -> list[list[Face]]:
        """The faces of each image with their landmarks (and ``layout``) set."""


class Aligner(_Stage):
    """Faces with landmarks → faces with an aligned :attr:`Face.crop`; declares (``None``: unchecked) the landmark
    layouts it takes, the crop geometry it makes (``"arcface"``), the config field holding the crop side and the
    crops' channel order (``"bgr"``), so a pipeline can refuse stages that do not fit."""

    accepts_layouts: ClassVar[tuple[str, ...] | None] = None
    crop_template: ClassVar[str | None] = None
    crop_size_field: ClassVar[str | None] = None
    crop_channels: ClassVar[str | None] = None

    @abc.abstractmethod
    def align(self, images: Sequence[np.ndarray], faces: Sequence[list[Face]]) -> list[list[Face]]:
        """The faces of each image with ``crop`` set (left ``None`` where alignment is impossible)."""


class Recognizer(_Stage):
    """Aligned crops → an N×D array of L2-normalised embeddings; declares the crop geometry, side and
    channel order it was trained on (``None``: undeclared) so a pipeline can refuse a misfit aligner."""

    crop_template: ClassVar[str | None] = None
    crop_size: ClassVar[int | None] = None
    crop_channels: ClassVar[str | None] = None

    @abc.abstractmethod
    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """One L2-normalised row per crop."""


@attrs.define
class MaskedImage:
    """What a mask adder made of one input image."""

    image: np.ndarray | None  #: The masked image (BGR ``uint8``, input size); ``None`` when no mask was added.
    template: str | None = None  #: Name of the template drawn on the image.
    params: dict[str, Any] = attrs.field(factory=dict)  #: The augmentation draws used, JSON-serialisable.
    error: str | None = None  #: Why no mask was added (e.g. no face found); ``None`` on success.


class MaskAdder(_Stage):
    """Adds virtual masks to faces; everything random comes from a per-image seed (reproducible data sets)."""

    @abc.abstractmethod
    def templates(self) -> list[str]:
        """Names of the templates this adder can draw (built-in and configured extra ones)."""

    @abc.abstractmethod
    def add_masks(self, images: Sequence[np.ndarray], seeds: Sequence[int], *, aligned: bool = False,
                  templates: Sequence[str | None] | None = None,
                  faces: Sequence[list[Face]] | None = None) -> list[MaskedImage]:
        """Mask the main face of each image (``aligned``: already aligned crops); ``templates[i]`` forces a
        template (``None``: drawn from ``seeds[i]``), ``faces`` gives landmarks found earlier."""

    @abc.abstractmethod
    def lift_template(self, photo: np.ndarray, matte: np.ndarray) -> np.ndarray:
        """A new UV-space template (BGRA ``uint8``) from a photo of a masked person and its mask matte."""


def pick_face(faces: Sequence[Face], how: str = "largest", need: str = "embedding") -> Face | None:
    """The face an image stands for: the ``largest`` box or the ``best`` score among the faces whose
    ``need`` field (``embedding``, ``crop`` or ``box``) is filled in; ``None`` when there is none."""
    usable = [f for f in faces if getattr(f, need) is not None]
    if how == "best":
        return max(usable, key=lambda f: f.score, default=None)
    return max(usable, key=lambda f: float(np.prod(np.asarray(f.box[2:], float) - np.asarray(f.box[:2], float))),
               default=None)


class Pipeline:
    """Detector → (landmarker) → aligner → recognizer over a batch of images: FaceX's one stage chain."""

    def __init__(self, detector: Detector, aligner: Aligner | None = None, recognizer: Recognizer | None = None,
                 landmarker: Landmarker | None = None) -> None:
        self.detector, self.landmarker, self.aligner, self.recognizer = detector, landmarker, aligner, recognizer

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


#: ArcFace 5-point template of a 112×112 crop, (x, y): image-left eye, image-right eye, nose tip,
#: image-left and image-right mouth corner (InsightFace / FaceX-Zoo values).
ARCFACE_TEMPLATE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                                 [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)
ARCFACE_TEMPLATE_112.setflags(write=False)


def arcface_template(size: int = 112) -> np.ndarray:
    """The ArcFace template for a ``size``×``size`` crop (the 112 template scaled by size/112)."""
    return ARCFACE_TEMPLATE_112 * (size / 112.0)


def umeyama(src: Any, dst: Any, with_scale: bool = True) -> np.ndarray:
    """Least-squares similarity (or rigid, ``with_scale=False``) transform mapping ``src`` onto ``dst``, as
    a (d+1)×(d+1) homogeneous matrix without reflections (Umeyama, "Least-squares estimation of
    transformation parameters between two point patterns", TPAMI 1991, eqs. 38–43)."""
    src, dst = np.asarray(src, dtype=np.float64), np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[0] < 2:
        raise ValueError(f"need two N×d point sets of the same shape, got {src.shape} and {dst.shape}")
    n, d = src.shape
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = (src_c ** 2).sum() / n
    if src_var <= 1e-12 * max(1.0, float(np.abs(src).max()) ** 2):
        raise ValueError("source points coincide: no similarity transform is defined")
    cov = dst_c.T @ src_c / n
    u, sing, vt = np.linalg.svd(cov)
    rank = int(np.sum(sing > sing.max() * 1e-12))
    if rank == 0:
        raise ValueError("destination points coincide: no similarity transform is defined")
    # rank d-1: the paper's rule for the degenerate case looks at det(U)·det(V) instead of det(Σ)
    flip = np.linalg.det(cov) < 0 if rank == d else np.linalg.det(u) * np.linalg.det(vt) < 0
    signs = np.r_[np.ones(d - 1), -1.0 if flip else 1.0]
    rotation = u @ np.diag(signs) @ vt
    scale = float((sing * signs).sum() / src_var) if with_scale else 1.0
    out = np.eye(d + 1)
    out[:d, :d] = scale * rotation
    out[:d, d] = dst_mean - scale * rotation @ src_mean
    return out
