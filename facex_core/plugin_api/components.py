"""The declarations a plugin makes: the components it provides and the commands it adds."""
from __future__ import annotations

from typing import Any

import attrs

#: Words used for component kinds across FaceX (plugins may add their own).
KINDS = ("backbone", "head", "training_mode", "protocol", "dataset", "data_format", "distill_loss",
         "detector", "landmarker", "aligner", "recognizer", "mask_adder")


def _module_attribute(_instance: Any, attribute: Any, value: str) -> None:
    if value and value.count(":") != 1:
        raise ValueError(f"{attribute.name} must be 'module:attribute', got {value!r}")


@attrs.frozen(kw_only=True)
class Component:
    """One named component a plugin declares; nothing heavy is imported until it is built."""

    kind: str = attrs.field()  #: Component kind, e.g. ``backbone`` or ``head``.
    name: str = attrs.field()  #: Name users write in configs, e.g. ``arcface``.
    summary: str = attrs.field()  #: One line shown by ``facex-core list``.
    config: type = attrs.field()  #: Frozen attrs class holding the component's hyper-parameters and their defaults.
    factory: str = attrs.field(validator=_module_attribute)  #: ``module:attribute`` of its builder (imported lazily).
    paper: str = attrs.field(default="")  #: Reference for the method, shown by ``describe``.

    @name.validator
    def _check_name(self, _attr: Any, value: str) -> None:
        if not value or ":" in value or value.strip() != value:
            raise ValueError(f"invalid component name {value!r}: non-empty, no ':' and no spaces")

    @config.validator
    def _check_config(self, _attr: Any, value: type) -> None:
        if not attrs.has(value):
            raise TypeError(f"config of {self.kind}/{self.name} must be an attrs class, got {value!r}")


@attrs.frozen(kw_only=True)
class Command:
    """A command a plugin adds to ``facex-core``, at top level or in a group (``group="data"``: ``facex-core
    data NAME``); without ``setup`` it is a group others join. ``setup(parser)`` adds the arguments and
    ``parser.set_defaults(func=run)``; its module is imported only when the command is chosen."""

    name: str = attrs.field()  #: The word users type, e.g. ``align``.
    help: str = attrs.field()  #: One line shown by ``facex-core --help`` and ``facex-core list``.
    group: str = attrs.field(default="")  #: The group it belongs to (``data``, ``sdk``, ...); empty at top level.
    setup: str = attrs.field(default="", validator=_module_attribute)  #: ``module:function`` adding its arguments.

    @name.validator
    def _check_name(self, _attr: Any, value: str) -> None:
        if not value or not all(c.isalnum() or c in "-_" for c in value):
            raise ValueError(f"invalid command name {value!r}: letters, digits, '-' and '_' only")

    @property
    def path(self) -> str:
        """``group name`` as typed on the command line."""
        return f"{self.group} {self.name}".strip()
