"""pluggy hook specifications that FaceX plugins implement."""
from __future__ import annotations

import pluggy

PROJECT = "facex"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def facex_components() -> list:
    """Return the :class:`facex_core.Component` declarations of this plugin (called once per process at
    discovery: it must stay cheap, no torch import)."""


@hookspec
def facex_commands() -> list:
    """Return the :class:`facex_core.Command` declarations this plugin adds to ``facex-core``."""


@hookspec
def facex_packaged_configs() -> dict:
    """Experiment configs this plugin ships: ``{file name: absolute path}`` (e.g. ``demo.toml``),
    found by name from any directory by ``train``, ``evaluate``, ``config show`` and ``demo``."""


@hookspec
def facex_train_event(event: str, state: dict) -> None:
    """Observe training: ``event`` is ``start``, ``step``, ``epoch``, ``checkpoint`` or ``end``."""


@hookspec
def facex_protocol_result(protocol: str, model: str, metrics: dict) -> None:
    """Observe one protocol result (loggers, leaderboards)."""
