"""One MediaPipe solution graph per component: created on first use, reused, closed once."""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Iterator

import numpy as np

from facex_core import as_rgb


class SolutionOwner:
    """Mixin for a stage that runs a ``mediapipe.solutions`` graph (``_create_solution`` builds it).

    Building a graph loads its models (tens of ms), so it is built lazily and kept; :meth:`close`
    (also called by ``with`` and on garbage collection) releases the C++ resources.
    """

    _solution: Any = None
    _warmed_up: bool = False

    def _create_solution(self) -> Any:  # pragma: no cover - implemented by the stages
        raise NotImplementedError

    @property
    def solution(self) -> Any:
        """The graph, built on first access."""
        if self._solution is None:
            self._solution = self._create_solution()
        return self._solution

    def process(self, rgb: np.ndarray) -> Any:
        """Run the graph on one RGB image.

        Building the graph and its first inference make MediaPipe's C++ code (TFLite, absl) print
        start-up notices straight to file descriptor 2, which Python cannot filter; they are hidden
        then, unless ``FACEX_MEDIAPIPE_LOGS=1``. Later calls are left alone so real errors still show.
        """
        if self._warmed_up or os.environ.get("FACEX_MEDIAPIPE_LOGS") == "1":
            return self.solution.process(rgb)
        with native_stderr_silenced():
            result = self.solution.process(rgb)
        self._warmed_up = True
        return result

    def close(self) -> None:
        """Release the graph; a later call builds a new one."""
        solution, self._solution = self._solution, None
        if solution is not None:
            solution.close()
        self._warmed_up = False

    def __enter__(self) -> "SolutionOwner":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown may already have torn mediapipe down
            pass


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at the null device for the duration (native libraries' writes included)."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # e.g. a captured stream without a descriptor
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
            try:
                yield
            finally:
                os.dup2(saved, fd)
    finally:
        os.close(saved)


def batch_rgb(image: Any, index: int) -> np.ndarray:
    """RGB copy of one batch item (BGR, grey or BGRA; MediaPipe wants RGB); errors name its position."""
    try:
        return as_rgb(image)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"image {index} of the batch: {exc}") from None


def check_batch(images: Any) -> None:
    """Reject a bare image where a list of images is expected (a common slip)."""
    if isinstance(images, np.ndarray) and images.ndim in (2, 3) and images.dtype == np.uint8:
        raise TypeError("takes a list of images; wrap a single image as [image]")
