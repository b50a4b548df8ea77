"""The ``[[prepare]]`` step ``name = "synthetic"``: writes the data set before a run reads it."""
from __future__ import annotations

from typing import Any

from facex_core import DatasetMaker, Progress

from .generate import generate
from .plugin import SyntheticDataConfig


class DrawingProgress:
    """``progress(done, total)`` for :func:`generate`: a bar shown only while images are drawn, so a
    complete folder prints nothing."""

    def __init__(self) -> None:
        self.bar: Progress | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            if done >= total:
                return
            self.bar = Progress(total, desc="synthetic faces", unit="img", initial=done)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        """End the bar's line (if one was drawn)."""
        if self.bar is not None:
            self.bar.close()


class SyntheticFaces(DatasetMaker):
    """Draws the synthetic face data set of its config into ``output`` (idempotent: a complete
    folder is returned at once, an interrupted one is finished)."""

    config: SyntheticDataConfig

    def describe(self) -> str:
        return f"synthetic faces -> {self.config.output}  (SYNTHETIC cartoon faces: a smoke test, not a benchmark)"

    def prepare(self, workers: int = 0) -> dict[str, Any]:
        progress = DrawingProgress()
        try:  # the config is a SyntheticConfig plus ``output``: the generator records its own fields only
            return generate(self.config, self.config.output, workers=workers, progress=progress)
        finally:
            progress.close()
