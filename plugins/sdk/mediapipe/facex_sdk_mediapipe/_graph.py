"""One MediaPipe solution graph per component: created on first use, reused, closed once."""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from facex_core import as_bgr


class SolutionOwner:
    """Mixin for a stage that runs a ``mediapipe.solutions`` graph (``_create_solution`` builds it).

    Building a graph loads its models (tens of ms), so it is built lazily and kept; :meth:`close`
    (also called by ``with`` and on garbage collection) releases the C++ resources.
    """

    _solution: Any = None

    def _create_solution(self) -> Any:  # pragma: no cover - implemented by the stages
        raise NotImplementedError

    @property
    def solution(self) -> Any:
        """The graph, built on first access."""
        if self._solution is None:
            self._solution = self._create_solution()
        return self._solution

    def close(self) -> None:
        """Release the graph; a later call builds a new one."""
        solution, self._solution = self._solution, None
        if solution is not None:
            solution.close()

    def __enter__(self) -> "SolutionOwner":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown may already have torn mediapipe down
            pass


def as_rgb(image: Any, index: int) -> np.ndarray:
    """RGB copy of one batch item (BGR, grey or BGRA; MediaPipe wants RGB); errors name its position."""
    try:
        bgr = as_bgr(image)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"image {index} of the batch: {exc}") from None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def check_batch(images: Any) -> None:
    """Reject a bare image where a list of images is expected (a common slip)."""
    if isinstance(images, np.ndarray) and images.ndim in (2, 3) and images.dtype == np.uint8:
        raise TypeError("takes a list of images; wrap a single image as [image]")
