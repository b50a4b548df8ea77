"""The DatasetMaker interface: an experiment's idempotent ``[[prepare]]`` step, writing data a run needs."""
from __future__ import annotations

import abc
from typing import Any, ClassVar


class DatasetMaker(abc.ABC):
    """Makes (or checks) one data set on disk; subclasses take their config object."""

    api_version: ClassVar[int] = 1

    def __init__(self, config: Any) -> None:
        self.config = config

    @abc.abstractmethod
    def describe(self) -> str:
        """One line for progress output, e.g. ``synthetic faces -> runs/demo/data``."""

    @abc.abstractmethod
    def prepare(self, workers: int = 0) -> dict[str, Any]:
        """Write the data unless it is complete (``workers`` processes, 0 = this one); returns a summary."""
