"""The face SDK as a Python library: :class:`FaceAnalyzer`.

One object holds a configured pipeline (the default chain, a TOML file or a dict of the same tables)
and answers the questions the ``facex-core sdk`` commands answer, which are written on top of it::

    analyzer = FaceAnalyzer()                                  # or FaceAnalyzer("sdk.toml") / FaceAnalyzer({...})
    faces = analyzer.analyze("photo.jpg")                      # box, score, landmarks, crop, embedding
    faces = analyzer.analyze(frame, channels="rgb")            # numpy images say their channel order
    result = analyzer.compare("a.jpg", "b.jpg")                # similarity, same, threshold and its source

``aligned=True`` (:meth:`FaceAnalyzer.embed`, ``compare``, ``search``, ``build_gallery``, ...) and
:meth:`FaceAnalyzer.embed_crops` take crops aligned already: only the aligner (whose crop convention
they follow) and the recognizer are built, never the detector or landmarker.

Images are paths or ``uint8`` arrays; an array's channel order must be given (``channels="bgr"`` as
OpenCV reads, ``"rgb"`` as PIL, imageio and matplotlib do): a wrong guess silently changes every
embedding. Faces are :class:`facex_core.Face`. User mistakes raise :class:`facex_core.ConfigError`
(settings) or :class:`facex_core.DataError` (an image: unreadable, no face); a recognizer giving NaN
raises :class:`facex_core.NonFiniteError`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Literal, Mapping, Sequence, Union

import attrs
import numpy as np

from facex_core import ConfigError, DataError, NonFiniteError

from .config import GalleryConfig
from .gallery import Gallery, Match
from .inputs import Item, finite_embeddings, process, read_image
from .pipeline import SdkSetup, Threshold

if TYPE_CHECKING:
    from facex_core import Face

    from .video import VideoStream

Channels = Literal["bgr", "rgb"]
#: An image: a file path, or a ``uint8`` array (H×W, H×W×3 or H×W×4) whose channel order is given.
ImageInput = Union[str, "os.PathLike[str]", np.ndarray]


def to_bgr(image: ImageInput, channels: Channels | None = None) -> np.ndarray:
    """``image`` as the BGR ``uint8`` H×W×3 array every stage takes (a path is read; grey and 4-channel
    arrays are converted). Arrays need ``channels``: ``"bgr"`` (OpenCV) or ``"rgb"`` (PIL, imageio)."""
    from facex_core import as_bgr

    if isinstance(image, (str, os.PathLike)):
        pixels, error = read_image(Path(image))
        if error:
            raise DataError(error)
        return pixels
    if channels not in ("bgr", "rgb"):
        raise ConfigError(f"a numpy image needs channels='bgr' (as OpenCV reads) or channels='rgb' (as PIL, "
                          f"imageio and matplotlib read), got channels={channels!r}")
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise DataError(f"expected a uint8 image, got dtype {array.dtype} (scale floats to 0..255 first)")
    if channels == "rgb" and array.ndim == 3 and array.shape[2] in (3, 4):
        array = array[:, :, [2, 1, 0, *([3] if array.shape[2] == 4 else [])]]
    try:
        return as_bgr(array)
    except (TypeError, ValueError) as exc:
        raise DataError(str(exc)) from None


def _name(image: ImageInput) -> str:
    return str(image) if isinstance(image, (str, os.PathLike)) else "the image"


@attrs.frozen
class Comparison:
    """Whether two faces are the same person: similarity, decision and where the threshold came from."""

    similarity: float
    """Cosine similarity of the two faces' embeddings."""
    same: bool
    """``similarity >= threshold``."""
    threshold: float
    threshold_source: str
    """``config``, ``calibration``, ``recognizer`` or ``placeholder`` (not calibrated)."""
    threshold_from: str
    """The source in words (``calibration FILE``, ``documented default of recognizer NAME``, ...)."""
    faces: tuple[Any, ...]
    """The two :class:`facex_core.Face` compared (the face each image stands for)."""


class FaceAnalyzer:
    """A configured face pipeline: detect, align, embed, compare, search and label video.

    ``config`` is a TOML file, a mapping of the same tables (``{"recognizer": {"name": "facex",
    "checkpoint": "last.pt"}}``) or ``None`` for the default chain; ``overrides`` are ``--set`` strings
    (``"detector.device=cuda:0"``). Stages are built on first use (or by :meth:`prepare`), threads and
    devices are the stages' own settings. A stage chain that does not fit (e.g. a FaceX recognizer
    after dlib chips) is a :class:`facex_core.ConfigError` naming both stages.
    """

    def __init__(self, config: str | os.PathLike[str] | Mapping[str, Any] | SdkSetup | None = None, *,
                 overrides: Sequence[str] = ()) -> None:
        if isinstance(config, SdkSetup):
            self.setup = config
        else:
            self.setup = SdkSetup(os.fspath(config) if isinstance(config, os.PathLike) else config, overrides)

    # -- the pipeline -------------------------------------------------------------------------------
    def prepare(self) -> "FaceAnalyzer":
        """Build every stage now (a config mistake or a missing model fails here, not at the first image)."""
        self.setup.pipeline(embed=True, command="python")
        return self

    @property
    def stages(self) -> dict[str, str]:
        """The stage names, once built (``{"detector": "mediapipe", ...}``)."""
        return dict(self.setup.names)

    @property
    def threshold(self) -> Threshold:
        """The decision threshold ``(value, source, description)`` (README: "Decision threshold")."""
        return self.setup.threshold()

    def decision_threshold(self, *, aligned: bool = False) -> Threshold:
        """:attr:`threshold`; ``aligned``: for already aligned crops (a calibration record is matched on
        the aligner and recognizer only, and the detector and landmarker are not built)."""
        return self.setup.threshold(crops_only=aligned)

    def identity(self, *, aligned: bool = False) -> dict[str, Any]:
        """What this pipeline's embeddings depend on (stages, settings, model digest); ``aligned``: of
        embeddings of already aligned crops (the aligner and recognizer only, nothing else built)."""
        return self.setup.identity(crops_only=aligned)

    def run(self, images: Sequence[np.ndarray], *, align: bool = True, embed: bool = True,
            command: str = "python") -> list[list["Face"]]:
        """BGR images through the stages in batches of ``[sdk] batch_size``; faces per image."""
        pipeline = self.setup.pipeline(align=align, embed=embed, command=command)
        step = self.setup.settings.batch_size
        faces: list[list[Face]] = []
        for start in range(0, len(images), step):
            faces.extend(pipeline(list(images[start:start + step]), align=align, embed=embed))
        if embed and not all(finite_embeddings(per_image) for per_image in faces):
            raise NonFiniteError("the recognizer produced a non-finite embedding (NaN weights?)")
        return faces

    def process(self, files: Sequence[Path], *, align: bool = False, embed: bool = False, command: str,
                progress: bool = False) -> Iterator[Item]:
        """Files read and run in batches, one :class:`Item` per file; a bad file is its item's ``error``."""
        return process(self.setup, files, align=align, embed=embed, command=command, progress=progress)

    def process_crops(self, files: Sequence[Path]) -> Iterator[Item]:
        """Files that are aligned crops already, one :class:`Item` per file: its one face is the whole
        image (box the image, score 1, ``crop`` the image) with its embedding; a bad file (unreadable,
        non-finite embedding) is its item's ``error``. Only the aligner and recognizer are built."""
        from facex_core import Face

        for path in files:
            image, error = read_image(path)
            it = Item(path, image, error)
            if error is None:
                try:
                    emb = self.embed(image, channels="bgr", aligned=True)
                    box = np.array([0, 0, image.shape[1], image.shape[0]], np.float32)
                    it.faces = [Face(box=box, score=1.0, crop=image, embedding=emb)]
                except (DataError, NonFiniteError) as exc:
                    it.error = f"{path}: {exc}"
            yield it

    # -- one image ----------------------------------------------------------------------------------
    def detect(self, image: ImageInput, *, channels: Channels | None = None) -> list["Face"]:
        """Faces with box, score and landmarks."""
        return self.run([to_bgr(image, channels)], align=False, embed=False)[0]

    def align(self, image: ImageInput, *, channels: Channels | None = None) -> list["Face"]:
        """Faces with box, score, landmarks and aligned ``crop`` (BGR)."""
        return self.run([to_bgr(image, channels)], align=True, embed=False)[0]

    def analyze(self, image: ImageInput, *, channels: Channels | None = None) -> list["Face"]:
        """Faces with box, score, landmarks, crop and L2-normalised ``embedding``."""
        return self.run([to_bgr(image, channels)])[0]

    def analyze_batch(self, images: Iterable[ImageInput], *, channels: Channels | None = None) -> list[list["Face"]]:
        """:meth:`analyze` for many images, run through the stages together."""
        return self.run([to_bgr(image, channels) for image in images])

    def face(self, image: ImageInput, *, channels: Channels | None = None) -> "Face":
        """The embedded face an image stands for (``[sdk] face``: largest box or best score);
        :class:`DataError` when it has none."""
        from facex_core import pick_face

        faces = self.analyze(image, channels=channels)
        face = pick_face(faces, self.setup.settings.face)
        if face is None:
            raise DataError(f"{_name(image)}: {'no face found' if not faces else 'no face could be aligned'}")
        return face

    def embed(self, image: ImageInput, *, channels: Channels | None = None, aligned: bool = False) -> np.ndarray:
        """The embedding (D, unit length) of the face an image stands for; ``aligned``: the image is
        already an aligned crop (FaceX-Zoo's and InsightFace's data are), detection and alignment skipped."""
        if aligned:
            return self.embed_crops([to_bgr(image, channels)])[0]
        return np.asarray(self.face(image, channels=channels).embedding)

    def embed_crops(self, crops: Sequence[np.ndarray], *, channels: Channels = "bgr") -> np.ndarray:
        """N×D embeddings of crops already aligned as this pipeline's aligner aligns them (only the
        aligner and recognizer are built, and must fit; the detector and landmarker are not needed)."""
        recognizer = self.setup.crop_recognizer("embed_crops")
        crops = [to_bgr(c, channels) for c in crops]
        side = getattr(recognizer, "crop_size", None)
        wrong = next((c.shape[:2] for c in crops if side is not None and c.shape[:2] != (side, side)), None)
        if wrong is not None:
            raise DataError(f"an aligned crop of {wrong[1]}x{wrong[0]} pixels, but recognizer "
                            f"{self.setup.names['recognizer']} takes {side}x{side} crops (align the images "
                            f"with this pipeline's aligner, e.g. facex-core data align)")
        out = np.asarray(recognizer.embed(crops))
        if not np.isfinite(out).all():
            raise NonFiniteError("the recognizer produced a non-finite embedding (NaN weights?)")
        return out

    def compare(self, a: ImageInput, b: ImageInput, *, channels: Channels | None = None,
                aligned: bool = False) -> Comparison:
        """Similarity of the faces two images stand for and the decision at :attr:`threshold`
        (``aligned``: both are aligned crops; ``faces`` is then empty)."""
        from .embeddings import unit

        if aligned:
            faces: tuple[Any, ...] = ()
            vectors = [self.embed(x, channels=channels, aligned=True) for x in (a, b)]
        else:
            faces = (self.face(a, channels=channels), self.face(b, channels=channels))
            vectors = [f.embedding for f in faces]
        similarity = float(np.dot(unit(vectors[0]), unit(vectors[1])))
        threshold = self.decision_threshold(aligned=aligned)
        return Comparison(similarity=similarity, same=similarity >= threshold.value, threshold=threshold.value,
                          threshold_source=threshold.source, threshold_from=threshold.description, faces=faces)

    # -- galleries ----------------------------------------------------------------------------------
    def build_gallery(self, *sources: str | os.PathLike[str], config: GalleryConfig | None = None,
                      command: str = "gallery", aligned: bool = False) -> Gallery:
        """A gallery of folders (``identity/*.jpg``) and ``sdk embed`` files, with this pipeline's
        identity and ``config`` (default: the ``[gallery]`` table); ``aligned``: the folders' images are
        aligned crops (the gallery records only the aligner and recognizer, nothing else is built)."""
        gallery = Gallery(config or self.setup.gallery_config(), self.identity(aligned=aligned))
        self.add_to_gallery(gallery, *sources, command=command, aligned=aligned)
        return gallery

    def add_to_gallery(self, gallery: Gallery, *sources: str | os.PathLike[str], command: str = "gallery",
                       aligned: bool = False) -> list[str]:
        """Add the faces of folders and ``sdk embed`` files to ``gallery``; the identities added or updated
        (``aligned``: the folders' images are aligned crops)."""
        from .embeddings import labelled_embeddings

        gallery.check_pipeline(self.identity(aligned=aligned), "the faces to add")
        names, vectors = labelled_embeddings(self, [Path(s) for s in sources], command, aligned=aligned)
        return gallery.add(names, vectors)

    def search(self, gallery: Gallery, probe: ImageInput, *, top: int = 5, channels: Channels | None = None,
               aligned: bool = False) -> list[Match]:
        """The ``top`` identities of ``gallery`` for the face ``probe`` stands for, with the decision."""
        gallery.check_pipeline(self.identity(aligned=aligned))
        return gallery.search(self.embed(probe, channels=channels, aligned=aligned), top,
                              threshold=self.decision_threshold(aligned=aligned).value)[0]

    def identify(self, gallery: Gallery, faces: Sequence["Face"]) -> list[Match | None]:
        """Each face's best identity (``match`` says whether it reaches the threshold); ``None`` for a
        face without embedding."""
        gallery.check_pipeline(self.identity())
        embedded = [f.embedding for f in faces if f.embedding is not None]
        found = iter(gallery.search(np.stack(embedded), 1, threshold=self.threshold.value) if embedded else [])
        out: list[Match | None] = []
        for face in faces:
            best = next(found) if face.embedding is not None else []
            out.append(best[0] if best else None)
        return out

    # -- video --------------------------------------------------------------------------------------
    def video(self, source: str | os.PathLike[str] | int, *, every: int = 1, gallery: Gallery | None = None,
              embed: bool = False) -> "VideoStream":
        """The frames of a video file, URL or camera index (OpenCV ``VideoCapture``) as an iterable of
        :class:`facex_sdk.VideoFrame`; the stages run on every ``every``-th frame, embedding when
        ``embed`` or a ``gallery`` labels the faces. ``.annotate(out)`` also writes a drawn copy."""
        from .video import VideoStream

        return VideoStream(self, source, every=every, gallery=gallery, embed=embed)
