"""Plugin discovery through the ``facex.plugins`` entry-point group, on pluggy.

Discovery imports only each plugin's light registration module (never torch, never a component
implementation). A plugin that fails is recorded as ``broken`` and everything else keeps working;
two distributions declaring the same kind+name are both kept and marked ``conflict``.
"""
from __future__ import annotations

import importlib
import os
import re
import threading
from importlib import metadata
from typing import Any, Callable, Iterable

import attrs
import pluggy

from . import hookspecs as _hookspecs
from .components import Component
from ..errors import RegistryError
from ..version import __version__

ENTRY_POINT_GROUP = "facex.plugins"
CORE_DISTRIBUTION = "facex-core"
#: Comma-separated distribution names that discovery skips (like pytest's ``-p no:NAME``).
DISABLE_ENV = "FACEX_DISABLE_PLUGINS"


@attrs.frozen(kw_only=True)
class Entry:
    """One row of ``facex-core list``: a component, or a plugin that could not provide any."""

    kind: str
    name: str
    distribution: str
    version: str
    summary: str
    status: str  # ok | broken | conflict | incompatible
    error: str = ""
    entry_point: str = ""
    component: Component | None = attrs.field(default=None, eq=False, repr=False)

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "distribution": self.distribution,
                "version": self.version, "summary": self.summary, "status": self.status,
                "error": self.error, "entry_point": self.entry_point}


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _incompatibility(dist: metadata.Distribution | None) -> str:
    """Why ``dist`` cannot work with this core (its Requires-Dist excludes us), or ''."""
    if dist is None:
        return ""
    for line in dist.requires or ():
        if not line.lower().replace("_", "-").startswith(CORE_DISTRIBUTION):
            continue
        # Only the specifier is parsed (packaging.requirements costs ~25 ms of start-up per process).
        spec_text, _, marker = line.partition(";")
        match = re.match(r"\s*([A-Za-z0-9_.-]+)\s*(?:\[[^\]]*\])?\s*\(?([^)]*)\)?", spec_text)
        if match is None or _canonical(match.group(1)) != CORE_DISTRIBUTION:
            continue
        if "extra" in marker:  # an optional dependency does not bind the plugin
            continue
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        try:
            spec = SpecifierSet(match.group(2).strip())
        except InvalidSpecifier:
            continue
        if not spec.contains(__version__, prereleases=True):
            return f"requires {CORE_DISTRIBUTION}{spec}, installed is {__version__}"
    return ""


def _error_text(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


class Registry:
    """The catalogue of installed components, built once from entry points."""

    def __init__(self, entry_points: Iterable[metadata.EntryPoint] | None = None) -> None:
        self.plugin_manager = pluggy.PluginManager(_hookspecs.PROJECT)
        self.plugin_manager.add_hookspecs(_hookspecs)
        self.entries: list[Entry] = []
        if entry_points is None:
            entry_points = metadata.entry_points(group=ENTRY_POINT_GROUP)
        disabled = {_canonical(d) for d in os.environ.get(DISABLE_ENV, "").split(",") if d.strip()}
        # Sorted so that every process (every DDP rank) sees the same order.
        for ep in sorted(entry_points, key=lambda e: (self._dist_name(e), e.name)):
            if _canonical(self._dist_name(ep)) in disabled:
                continue
            self._load(ep)
        self._mark_conflicts()

    @staticmethod
    def _dist_name(ep: metadata.EntryPoint) -> str:
        dist = getattr(ep, "dist", None)
        return dist.metadata["Name"] if dist is not None else "<unknown>"

    def _load(self, ep: metadata.EntryPoint) -> None:
        dist = getattr(ep, "dist", None)
        dist_name = self._dist_name(ep)
        version = dist.version if dist is not None else ""
        row = dict(kind="-", name=ep.name, distribution=dist_name, version=version,
                   summary=(dist.metadata.get("Summary") or "") if dist is not None else "",
                   entry_point=f"{ep.name} = {ep.value}")
        reason = _incompatibility(dist)
        if reason:
            self.entries.append(Entry(status="incompatible", error=reason, **row))
            return
        try:
            module = ep.load()
            plugin_name = f"{dist_name}:{ep.name}"
            self.plugin_manager.register(module, name=plugin_name)
            impls = [i for i in self.plugin_manager.hook.facex_components.get_hookimpls()
                     if i.plugin_name == plugin_name]
            components: list[Component] = []
            for impl in impls:
                declared = impl.function()
                for comp in declared or ():
                    if not isinstance(comp, Component):
                        raise TypeError(f"facex_components returned {type(comp).__name__}, "
                                        "expected facex_core.Component")
                    components.append(comp)
        except Exception as exc:  # a broken plugin must never take the others down
            self.entries.append(Entry(status="broken", error=_error_text(exc), **row))
            return
        for comp in components:
            self.entries.append(Entry(kind=comp.kind, name=comp.name, distribution=dist_name,
                                      version=version, summary=comp.summary, status="ok",
                                      entry_point=row["entry_point"], component=comp))

    def _mark_conflicts(self) -> None:
        providers: dict[tuple[str, str], set[str]] = {}
        for e in self.entries:
            if e.component is not None:
                providers.setdefault((e.kind, e.name), set()).add(e.distribution)
        self.entries = [
            attrs.evolve(e, status="conflict",
                         error="also provided by " + ", ".join(sorted(providers[(e.kind, e.name)] - {e.distribution})))
            if e.component is not None and len(providers[(e.kind, e.name)]) > 1 else e
            for e in self.entries
        ]

    # -- queries -----------------------------------------------------------------------------
    def list(self, kind: str | None = None) -> list[Entry]:
        rows = [e for e in self.entries if kind is None or e.kind in (kind, "-")]
        return sorted(rows, key=lambda e: (e.kind, e.name, e.distribution))

    def names(self, kind: str) -> list[str]:
        return sorted({e.name for e in self.entries if e.kind == kind and e.component is not None})

    def get(self, kind: str, name: str) -> Entry:
        """Resolve ``name`` or ``distribution:name`` of ``kind``; errors say what to write instead."""
        dist_wanted, _, bare = name.rpartition(":")
        matches = [e for e in self.entries
                   if e.kind == kind and e.name == bare and e.component is not None
                   and (not dist_wanted or _canonical(e.distribution) == _canonical(dist_wanted))]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            dists = ", ".join(sorted(m.distribution for m in matches))
            raise RegistryError(
                f"{kind} {bare!r} is provided by several distributions ({dists}); "
                f"write 'DISTRIBUTION:{bare}', e.g. '{matches[0].distribution}:{bare}'")
        known = ", ".join(self.names(kind)) or "none installed"
        msg = f"no {kind} named {name!r} (installed: {known})"
        bad = [e for e in self.entries if e.component is None]
        if bad:
            msg += "; plugins that could not load: " + "; ".join(
                f"{e.distribution} [{e.status}: {e.error}]" for e in bad)
        raise RegistryError(msg)

    def broadcast(self, hook: str, **kwargs: Any) -> list[Any]:
        """Call an observer hook (e.g. ``facex_train_event``) on every loaded plugin."""
        return getattr(self.plugin_manager.hook, hook)(**kwargs)


_REGISTRY: Registry | None = None
_LOCK = threading.Lock()


def registry() -> Registry:
    """The process-wide registry, discovered on first use."""
    global _REGISTRY
    with _LOCK:
        if _REGISTRY is None:
            _REGISTRY = Registry()
        return _REGISTRY


def reset_registry(new: Registry | None = None) -> None:
    """Forget (or replace) the cached registry; for tests and long-lived processes after installs."""
    global _REGISTRY
    with _LOCK:
        _REGISTRY = new


def load_factory(component: Component) -> Callable[[Any], Any]:
    """Import the component's implementation (the first moment heavy modules are imported)."""
    module_name, _, attr = component.factory.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj
