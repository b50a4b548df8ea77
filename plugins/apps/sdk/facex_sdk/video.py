"""Video files and streams: frames read with OpenCV's ``VideoCapture``, every Nth run through the
stages, and an annotated copy written with ``VideoWriter``.

Frames between two processed ones carry the faces (and identities) of the last processed frame, so
an annotated video keeps every frame and its length. A stage failing on one frame is that frame's
``error``, never the end of the stream. The annotated video is written under a temporary name and
renamed once complete: an interrupted run never leaves a truncated file under the final name, and a
video of which no frame could be read does not replace an earlier output.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import attrs
import numpy as np

from facex_core import ConfigError, DataError

if TYPE_CHECKING:
    from .analyzer import FaceAnalyzer
    from .gallery import Gallery, Match

#: File suffixes the commands treat as videos.
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")
#: Frame rate written when the source does not tell its own.
FALLBACK_FPS = 25.0


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


@attrs.define
class VideoFrame:
    """One frame of a video and what the stages found in it."""

    index: int
    """0-based frame number."""
    time: float
    """Seconds from the start (``index / fps``)."""
    image: np.ndarray
    """The frame, BGR."""
    faces: list[Any]
    """Faces of this frame (of the last processed frame when ``processed`` is False)."""
    processed: bool
    """Whether the stages ran on this frame (every ``every``-th frame)."""
    matches: list["Match | None"] | None = None
    """With a gallery: each face's best identity (``match`` True when it reaches the threshold)."""
    error: str | None = None
    """Why the stages failed on this frame (its faces are then empty)."""


def open_capture(source: str | os.PathLike[str] | int) -> tuple[Any, float, int]:
    """``(capture, fps, frame count or 0)`` of a video file, URL or camera index; :class:`DataError` if
    OpenCV cannot open it."""
    import cv2

    if isinstance(source, (str, os.PathLike)) and "://" not in str(source) and not Path(source).is_file():
        raise DataError(f"{source}: no such video file")
    capture = cv2.VideoCapture(source if isinstance(source, int) else os.fspath(source))
    if not capture.isOpened():
        raise DataError(f"{source}: OpenCV cannot open it as a video")
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    return capture, fps if fps and fps > 0 and np.isfinite(fps) else FALLBACK_FPS, \
        int(frames) if frames and frames > 0 and np.isfinite(frames) else 0


class VideoStream:
    """The frames of a video file, URL or camera index (iterate over it: :class:`VideoFrame` each);
    the stages run on every ``every``-th frame (see :meth:`facex_sdk.FaceAnalyzer.video`)."""

    def __init__(self, analyzer: "FaceAnalyzer", source: str | os.PathLike[str] | int, *, every: int = 1,
                 gallery: "Gallery | None" = None, embed: bool | None = None) -> None:
        if every < 1:
            raise ConfigError(f"every: expected a whole number >= 1, got {every}")
        self.analyzer, self.source, self.every, self.gallery = analyzer, source, every, gallery
        self.embed = bool(embed) or gallery is not None
        if gallery is not None:
            gallery.check_pipeline(analyzer.identity())
        analyzer.setup.pipeline(embed=self.embed, command="video")  # a config mistake fails before any frame
        self.capture, self.fps, self.frames = open_capture(source)

    def __iter__(self) -> Iterator[VideoFrame]:
        faces: list[Any] = []
        matches: list[Any] | None = None
        index = 0
        try:
            while True:
                ok, image = self.capture.read()
                if not ok:
                    break
                processed, error = index % self.every == 0, None
                if processed:
                    try:
                        faces = self.analyzer.run([image], align=self.embed, embed=self.embed, command="video")[0]
                        matches = self.analyzer.identify(self.gallery, faces) if self.gallery is not None else None
                    except Exception as exc:  # noqa: BLE001 - one bad frame is that frame's result
                        faces, matches, error = [], None, f"frame {index}: {type(exc).__name__}: {exc}"
                yield VideoFrame(index=index, time=index / self.fps, image=image, faces=faces, processed=processed,
                                 matches=matches, error=error)
                index += 1
        finally:
            self.capture.release()

    def annotate(self, out: str | os.PathLike[str], *, progress: bool = False) -> Iterator[VideoFrame]:
        """The frames, each also drawn (boxes, scores or identities, landmarks) into the video ``out``
        (``.mp4``, or ``.avi`` for MJPEG), which appears once the last frame is written."""
        from facex_core import Progress

        from .outputs import annotate, identity_rows

        bar = Progress(self.frames or None, desc=f"annotate {Path(str(self.source)).name}", unit="frame") \
            if progress else None
        try:
            with VideoOutput(Path(out), self.fps) as video:
                for frame in self:
                    video.write(annotate(frame.image, frame.faces, identity_rows(frame.faces, frame.matches)[1]))
                    yield frame
                    if bar is not None:
                        bar.update(1)
        finally:
            if bar is not None:
                bar.close()


class VideoOutput:
    """An annotated video written under a temporary name and renamed by :meth:`close` (a context
    manager); nothing replaces ``path`` unless a frame was written and no exception escaped."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path = path
        # the core's temporary scheme (.NAME.tmp-PID, cleared by facex_core.remove_temporaries), with
        # the suffix kept last: OpenCV picks the container from it
        self.temporary = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
        self.fps = fps
        self.frames = 0
        self._writer: Any = None

    def write(self, image: np.ndarray) -> None:
        import cv2

        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fourcc = cv2.VideoWriter_fourcc(*("MJPG" if self.path.suffix.lower() == ".avi" else "mp4v"))
            self._writer = cv2.VideoWriter(str(self.temporary), fourcc, self.fps, (image.shape[1], image.shape[0]))
            if not self._writer.isOpened():
                raise DataError(f"{self.path}: OpenCV cannot write this kind of video (use .mp4 or .avi)")
        self._writer.write(image)
        self.frames += 1

    def __enter__(self) -> "VideoOutput":
        return self

    def __exit__(self, kind: Any, *exc: Any) -> None:
        if self._writer is not None:
            self._writer.release()
        if kind is None and self.frames:
            os.replace(self.temporary, self.path)
        self.temporary.unlink(missing_ok=True)
