"""Plugin discovery through the ``facex.plugins`` entry-point group, on pluggy: only each plugin's light
registration module is imported; a plugin that fails is recorded ``broken`` and the rest keep working; two
distributions declaring the same kind+name are both kept and marked ``conflict``."""
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
from .components import Command, Component
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
    command: Command | None = attrs.field(default=None, eq=False, repr=False)
    config_path: str = ""

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in attrs.asdict(self, recurse=False).items()
                if k not in ("component", "command", "config_path")}


#: Hooks a plugin may implement (everything else is a mistake, e.g. a misspelled name).
HOOKS = tuple(sorted(n for n in dir(_hookspecs) if n.startswith("facex_")))


def _declared(impls: dict[str, Any], hook: str, cls: type) -> list[Any]:
    """What a plugin's ``hook`` returned, each item checked to be a ``cls``."""
    if hook not in impls:
        return []
    items = list(impls[hook].function() or ())
    for item in items:
        if not isinstance(item, cls):
            raise TypeError(f"{hook} returned {type(item).__name__}, expected facex_core.{cls.__name__}")
    return items


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _incompatibility(dist: metadata.Distribution | None) -> str:
    """Why ``dist`` cannot work with this core (its Requires-Dist excludes us), or ''."""
    if dist is None:
        return ""
    for line in dist.requires or ():
        # Only the specifier is parsed (packaging.requirements costs ~25 ms of start-up per process); an optional
        # dependency (an ``extra`` marker) does not bind the plugin.
        spec_text, _, marker = line.partition(";")
        match = re.match(r"\s*([A-Za-z0-9_.-]+)\s*(?:\[[^\]]*\])?\s*\(?([^)]*)\)?", spec_text)
        if match is None or _canonical(match.group(1)) != CORE_DISTRIBUTION or "extra" in marker:
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
            if _canonical(self._dist_name(ep)) not in disabled:
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
        if reason := _incompatibility(dist):
            self.entries.append(Entry(status="incompatible", error=reason, **row))
            return
        plugin_name = f"{dist_name}:{ep.name}"
        try:
            module = ep.load()
            self.plugin_manager.register(module, name=plugin_name)
            entries = self._contributions(plugin_name, dist_name, version, row["entry_point"])
        except Exception as exc:  # a broken plugin must never take the others down, nor receive hooks
            if self.plugin_manager.has_plugin(plugin_name):
                self.plugin_manager.unregister(name=plugin_name)
            self.entries.append(Entry(status="broken", error=_error_text(exc), **row))
            return
        self.entries.extend(entries)

    def _contributions(self, plugin_name: str, dist_name: str, version: str, entry_point: str) -> list[Entry]:
        """The entries a freshly registered plugin provides; raises when it implements an unknown
        hook (e.g. a misspelled name) or contributes nothing at all."""
        hook = self.plugin_manager.hook
        impls = {name: impl for name in dir(hook) for impl in getattr(getattr(hook, name), "get_hookimpls", list)()
                 if impl.plugin_name == plugin_name}
        unknown = sorted(set(impls) - set(HOOKS))
        if unknown:
            raise LookupError(f"implements unknown hook {unknown[0]!r} (FaceX hooks: {', '.join(HOOKS)})")
        if not impls:
            raise LookupError("implements no FaceX hook (is @facex_core.hookimpl missing?)")
        common = dict(distribution=dist_name, version=version, status="ok", entry_point=entry_point)
        out = [Entry(kind=comp.kind, name=comp.name, summary=comp.summary, component=comp, **common)
               for comp in _declared(impls, "facex_components", Component)]
        out += [Entry(kind="command", name=cmd.path, summary=cmd.help, command=cmd, **common)
                for cmd in _declared(impls, "facex_commands", Command)]
        configs = impls["facex_packaged_configs"].function() if "facex_packaged_configs" in impls else {}
        out += [Entry(kind="config", name=str(name), summary=str(path), config_path=str(path), **common)
                for name, path in sorted(dict(configs or {}).items())]
        observers = set(impls) & {"facex_train_event", "facex_protocol_result"}
        if not out and not observers:
            raise LookupError("contributes no component, command, config or observer hook")
        return out

    def _mark_conflicts(self) -> None:
        providers: dict[tuple[str, str], set[str]] = {}
        for e in self.entries:
            if e.status == "ok":
                providers.setdefault((e.kind, e.name), set()).add(e.distribution)
        self.entries = [
            attrs.evolve(e, status="conflict",
                         error="also provided by " + ", ".join(sorted(providers[(e.kind, e.name)] - {e.distribution})))
            if e.status == "ok" and len(providers[(e.kind, e.name)]) > 1 else e
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
            raise RegistryError(f"{kind} {bare!r} is provided by several distributions ({dists}); "
                                f"write 'DISTRIBUTION:{bare}', e.g. '{matches[0].distribution}:{bare}'")
        known = ", ".join(self.names(kind)) or "none installed"
        msg = f"no {kind} named {name!r} (installed: {known})"
        bad = [e for e in self.entries if e.status != "ok"]  # commands are ok entries without a component
        if bad:
            msg += "; plugins that could not load: " + "; ".join(
                f"{e.distribution} [{e.status}: {e.error}]" for e in bad)
        raise RegistryError(msg)

    def verified(self, kind: str | None = None) -> list[Entry]:
        """:meth:`list` after ``list --strict``'s checks (every implementation and command setup imports, every
        config field has a doc); an entry that fails is returned ``broken`` with the reason."""
        out = []
        for e in self.list(kind):
            problem = ""
            try:
                if e.component is not None:
                    load_factory(e.component)
                    undocumented = [f.name for f in attrs.fields(e.component.config)
                                    if not f.metadata.get("facex_doc", "").strip()]
                    if undocumented:
                        problem = f"config field(s) without a doc: {', '.join(undocumented)} (use facex_core.option)"
                elif e.command is not None and e.command.setup:
                    import_object(e.command.setup)
            except Exception as exc:  # noqa: BLE001 - what a user would hit at `train`, reported now
                problem = f"cannot import {e.component.factory if e.component else e.command.setup}: {_error_text(exc)}"
            out.append(attrs.evolve(e, status="broken", error=problem) if problem and e.status == "ok" else e)
        return out

    def commands(self) -> list[Entry]:
        """Commands plugins add (conflicting ones included: the CLI reports them when run)."""
        return [e for e in self.list("command") if e.command is not None]

    def packaged_config(self, name: str) -> str | None:
        """Path of the config file ``name`` a plugin ships (``None`` if none does)."""
        found = [e.config_path for e in self.entries if e.kind == "config" and e.name == name and e.config_path]
        return found[0] if len(found) == 1 else None

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


def import_object(spec: str) -> Any:
    """The object a ``module:attribute`` string names (``attribute`` may be dotted)."""
    module_name, _, attr = spec.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def load_factory(component: Component) -> Callable[[Any], Any]:
    """Import the component's implementation (the first moment heavy modules are imported)."""
    return import_object(component.factory)
