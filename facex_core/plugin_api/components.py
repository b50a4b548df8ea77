"""The declaration a plugin makes for each component it provides."""
from __future__ import annotations

from typing import Any

import attrs

#: Words used for component kinds across FaceX (plugins may add their own).
KINDS = ("backbone", "head", "training_mode", "protocol", "dataset",
         "detector", "landmarker", "aligner", "recognizer", "mask_adder")


@attrs.frozen(kw_only=True)
class Component:
    """One named component a plugin declares; nothing heavy is imported until it is built."""

    kind: str = attrs.field()
    """Component kind, e.g. ``backbone`` or ``head``."""
    name: str = attrs.field()
    """Name users write in configs, e.g. ``arcface``."""
    summary: str = attrs.field()
    """One line shown by ``facex-core list``."""
    config: type = attrs.field()
    """Frozen attrs class holding the component's hyper-parameters and their defaults."""
    factory: str = attrs.field()
    """``module:attribute`` of the callable that builds the component from its config (imported lazily)."""
    paper: str = attrs.field(default="")
    """Reference for the method, shown by ``describe``."""

    @name.validator
    def _check_name(self, _attr: Any, value: str) -> None:
        if not value or ":" in value or value.strip() != value:
            raise ValueError(f"invalid component name {value!r}: non-empty, no ':' and no spaces")

    @factory.validator
    def _check_factory(self, _attr: Any, value: str) -> None:
        if value.count(":") != 1:
            raise ValueError(f"factory must be 'module:attribute', got {value!r}")

    @config.validator
    def _check_config(self, _attr: Any, value: type) -> None:
        if not attrs.has(value):
            raise TypeError(f"config of {self.kind}/{self.name} must be an attrs class, got {value!r}")
