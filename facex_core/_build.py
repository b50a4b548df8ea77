"""Build components by kind and name from config values (Python keywords or TOML tables)."""
from __future__ import annotations

from typing import Any, Mapping

from ._config import structure
from ._registry import Entry, load_factory, registry


def component_config(kind: str, name: str, values: Mapping[str, Any] | None = None, *,
                     path: str | None = None, source: str = "<keyword arguments>") -> tuple[Entry, Any]:
    """Resolve ``kind``/``name`` and structure ``values`` into its config class (validated like TOML)."""
    entry = registry().get(kind, name)
    assert entry.component is not None
    cfg = structure(entry.component.config, dict(values or {}), path=path or kind, source=source)
    return entry, cfg


def build(kind: str, name: str, /, **values: Any) -> Any:
    """Build component ``name`` of ``kind`` from keyword config values.

    Example: ``facex_core.build("head", "arcface", num_classes=1000, embedding_size=512)``.
    Keyword values are validated exactly like the same keys in a TOML config.
    """
    entry, cfg = component_config(kind, name, values)
    return load_factory(entry.component)(cfg)


def build_from_table(kind: str, table: Mapping[str, Any], *, path: str, source: str,
                     defaults: Mapping[str, Any] | None = None) -> tuple[Entry, Any, Any]:
    """Build from a TOML table holding ``name`` plus config keys; returns (entry, config, component).

    ``defaults`` fill keys the table leaves out (e.g. a head's ``num_classes`` from the data).
    """
    from ._config import ConfigError

    values = dict(table)
    name = values.pop("name", None)
    if not isinstance(name, str):
        raise ConfigError(f"{source}: {path}.name: required key missing (the {kind} to use)")
    for key, value in (defaults or {}).items():
        values.setdefault(key, value)
    entry, cfg = component_config(kind, name, values, path=path, source=source)
    return entry, cfg, load_factory(entry.component)(cfg)
