"""Build components by kind and name from config values (Python keywords or TOML tables)."""
from __future__ import annotations

from typing import Any, Mapping

from ..configs.toml import structure
from ..errors import ConfigError
from .registry import Entry, load_factory, registry


def component_config(kind: str, name: str, values: Mapping[str, Any] | None = None, *,
                     path: str | None = None, source: str = "<keyword arguments>") -> tuple[Entry, Any]:
    """Resolve ``kind``/``name`` and structure ``values`` into its config class (validated like TOML)."""
    entry = registry().get(kind, name)
    assert entry.component is not None
    return entry, structure(entry.component.config, dict(values or {}), path=path or kind, source=source)


def build(kind: str, name: str, /, **values: Any) -> Any:
    """Build component ``name`` of ``kind`` from keyword config values, validated exactly like TOML
    (``facex_core.build("head", "arcface", num_classes=1000, embedding_size=512)``)."""
    entry, cfg = component_config(kind, name, values)
    return load_factory(entry.component)(cfg)


def table_config(kind: str, table: Any, *, path: str, source: str,
                 defaults: Mapping[str, Any] | None = None) -> tuple[Entry, Any]:
    """Resolve a TOML table holding ``name`` plus config keys into (entry, validated config); ``defaults`` fill
    keys the table leaves out (e.g. a head's ``num_classes`` from the data)."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: {path}: expected a table")
    values = {**(defaults or {}), **table}
    name = values.pop("name", None)
    if not isinstance(name, str):
        raise ConfigError(f"{source}: {path}.name: required key missing (which {kind} to use)")
    try:
        return component_config(kind, name, values, path=path, source=source)
    except LookupError as exc:
        raise ConfigError(f"{source}: {path}.name: {exc}") from None


def build_from_table(kind: str, table: Mapping[str, Any], *, path: str, source: str,
                     defaults: Mapping[str, Any] | None = None) -> tuple[Entry, Any, Any]:
    """Build from a TOML table holding ``name`` plus config keys; returns (entry, config, component)."""
    entry, cfg = table_config(kind, table, path=path, source=source, defaults=defaults)
    return entry, cfg, load_factory(entry.component)(cfg)
