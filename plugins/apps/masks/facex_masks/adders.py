"""Which mask adder the tools use: a ``[mask_adder]`` table (``name`` plus that adder's config keys).

The commands read it from an optional TOML file (``--config``) plus ``--set mask_adder.KEY=VALUE``
overrides; a ``[[prepare]]`` step holds it as its ``mask_adder`` sub-table. Without a ``name`` the
default adder :data:`DEFAULT_ADDER` is used; a FaceX adder that is not installed is an error naming the
distribution to install (:func:`install_hint`). Light to import (no numpy, cv2 or torch).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from facex_core import (ConfigError, RegistryError, apply_overrides, build_from_table, component_config, load_toml,
                        registry)

#: This application's mask adder when a table names none.
DEFAULT_ADDER = "fma3d"
#: Where the mask adders of the FaceX project come from (``plugins/masks/<folder>``, distribution
#: ``facex-mask-<folder>``), for "not installed" errors.
DISTRIBUTIONS = {"fma3d": "fma3d"}


def install_hint(name: str) -> str:
    """How to install the distribution that provides mask adder ``name`` (empty if not a FaceX one)."""
    folder = DISTRIBUTIONS.get(name.rpartition(":")[2])
    if folder is None:
        return ""
    return f"pip install facex-mask-{folder} (in a FaceX checkout: pip install -e plugins/masks/{folder})"


def adder_config(table: Mapping[str, Any], *, source: str, path: str = "mask_adder",
                 choose: str = "") -> tuple[Any, Any]:
    """``(registry entry, validated config)`` of the mask adder ``table`` describes; ``choose`` says how
    to name another adder in "not installed" errors (default: ``--set PATH.name=NAME``)."""
    values = dict(table)
    name = values.pop("name", DEFAULT_ADDER)
    if not isinstance(name, str):
        raise ConfigError(f"{source}: {path}.name: expected a string, got {type(name).__name__} {name!r}")
    try:
        return component_config("mask_adder", name, values, path=path, source=source)
    except RegistryError as exc:
        names = registry().names("mask_adder")
        hint = install_hint(name)
        if not hint or name.rpartition(":")[2] in names:
            raise ConfigError(f"{source}: {path}.name: {exc}") from None
        what = "the default mask_adder" if "name" not in table else "mask_adder"
        installed = ", ".join(names) or "none"
        raise ConfigError(f"{source}: {what} {name!r} is not installed: {hint}; or choose another with "
                          f"{choose or f'--set {path}.name=NAME'} (installed: {installed})") from None


def adder_from_table(table: Mapping[str, Any], *, source: str, path: str = "mask_adder") -> Any:
    """The mask adder ``table`` describes, built; a failure to build it is a :class:`ConfigError`."""
    entry, _ = adder_config(table, source=source, path=path)  # a missing adder or bad key: the clear error
    try:
        return build_from_table("mask_adder", {"name": entry.name, **table}, path=path, source=source)[2]
    except ConfigError:
        raise
    except (ValueError, OSError, ImportError, TypeError) as exc:
        raise ConfigError(f"{source}: {path} {entry.name}: {exc}") from None


def build_adder(config: str | None, overrides: Sequence[str]) -> Any:
    """The mask adder of TOML file ``config`` (a ``[mask_adder]`` table) and ``--set`` overrides."""
    data = apply_overrides(load_toml(config) if config else {}, list(overrides))
    source = " + ".join([*([config] if config else []), *(["--set"] if overrides else [])]) or "<defaults>"
    unknown = sorted(set(data) - {"mask_adder"})
    if unknown:
        raise ConfigError(f"{source}: unknown table(s) {unknown}; expected [mask_adder] "
                          f"(e.g. --set mask_adder.name={DEFAULT_ADDER})")
    table = data.get("mask_adder", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: mask_adder: expected a table (name = \"{DEFAULT_ADDER}\" plus its keys)")
    return adder_from_table(table, source=source)


def check_adder_table(_instance: Any, attribute: Any, table: Any) -> None:
    """attrs validator of a config field holding a ``[mask_adder]`` table: the adder exists and its keys
    are valid (the error then names the config file and the step)."""
    if not isinstance(table, Mapping):
        raise ValueError(f"{attribute.name}: expected a table (name = \"{DEFAULT_ADDER}\" plus its keys)")
    marker = "\0"  # adder_config prefixes its messages with the source; the caller's error names it instead
    try:
        adder_config(table, source=marker, path=attribute.name,
                     choose=f"--set prepare.N.{attribute.name}.name=NAME")
    except ConfigError as exc:
        raise ValueError(str(exc).removeprefix(f"{marker}: ")) from None
