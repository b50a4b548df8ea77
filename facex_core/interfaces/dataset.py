"""The DatasetMaker interface: a ``dataset`` component that writes data a run needs before it starts.

An experiment lists them as ``[[prepare]]`` tables (``name`` plus the component's config keys);
``train``, ``evaluate`` and ``demo`` run them in order before reading any data. A maker is
idempotent: when its output is already complete it returns at once, so configs can always keep
their ``[[prepare]]`` steps (e.g. synthetic demo data, a masked copy of a training set).
"""
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
        """Write the data unless it is complete already; returns a JSON-serialisable summary.

        ``workers`` is the number of processes the maker may use (0 = this process).
        """
