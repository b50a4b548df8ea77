"""The Protocol interface: which images a benchmark needs and how their features become metrics."""
from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, ClassVar, Mapping

import attrs
import numpy as np


@attrs.define
class Curve:
    """One curve of a result (ROC, CMC, ...), drawn to a PNG by the evaluation engine."""

    name: str  #: File-safe name, e.g. ``roc``.
    x: np.ndarray
    y: np.ndarray
    x_label: str
    y_label: str
    log_x: bool = False  #: Draw the x axis on a log scale (ROC curves over FAR).


@attrs.define
class ProtocolResult:
    """Metrics of one model on one protocol."""

    metrics: dict[str, float]  #: Named numbers, e.g. ``accuracy``, ``accuracy_std``, ``tar@far=1e-3``.
    primary: str  #: The metric shown in summary tables.
    curves: list[Curve] = attrs.field(factory=list)
    details: dict[str, Any] = attrs.field(factory=dict)  #: Anything else for the JSON output (per-fold values, ...).


class Protocol(abc.ABC):
    """A benchmark: lists the images it needs (relative to :attr:`image_root`) and scores features."""

    api_version: ClassVar[int] = 1

    def __init__(self, config: Any) -> None:
        self.config = config

    @property
    @abc.abstractmethod
    def image_root(self) -> Path:
        """Folder the paths of :meth:`images` are relative to."""

    @abc.abstractmethod
    def images(self) -> list[str]:
        """Every image the protocol needs a feature of."""

    @abc.abstractmethod
    def evaluate(self, features: Mapping[str, np.ndarray]) -> ProtocolResult:
        """Metrics from the L2-normalised features, keyed like :meth:`images`."""

    def fingerprint(self) -> str:
        """A string that changes when the protocol's inputs change (part of the feature-cache key)."""
        return repr(attrs.asdict(self.config)) if attrs.has(type(self.config)) else repr(self.config)
