"""The DataFormat interface: a training-set container the core does not read itself (``[data] format = NAME``)."""
from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, ClassVar

import numpy as np


class DataFormat(abc.ABC):
    """Lists the samples of a data set in one container format and reads their images; subclasses take their
    config object. Instances travel to DataLoader workers by pickling: open files lazily, per process."""

    api_version: ClassVar[int] = 1

    def __init__(self, config: Any) -> None:
        self.config = config

    @abc.abstractmethod
    def exists(self, root: Path) -> bool:
        """Whether ``root`` holds a data set in this format (how ``data inspect`` recognises it)."""

    @abc.abstractmethod
    def samples(self, root: Path) -> list[tuple[str, int]]:
        """``(key, label)`` per image in the set's order; :class:`facex_core.DataError` if it is malformed."""

    @abc.abstractmethod
    def read(self, root: Path, key: str) -> np.ndarray:
        """The BGR uint8 image of ``key``; :class:`facex_core.ImageLoadError` naming file and key if undecodable."""

    def num_classes(self, root: Path) -> int:
        """The class count the set declares, if it records one (0: the largest label + 1 decides)."""
        return 0
