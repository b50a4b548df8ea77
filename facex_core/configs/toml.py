"""TOML configs structured into frozen attrs classes, with errors that name the key path and file."""
from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any, Callable, Mapping

import attrs
import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError
from cattrs.gen import make_dict_structure_fn

from ..errors import ConfigError


def _strict(cls: type, accepted: type | tuple[type, ...], expected: str) -> Callable[[Any, type], Any]:
    """Structure hook for ``cls`` that refuses what cattrs would coerce (other types; a bool for a number)."""
    def hook(value: Any, _t: type) -> Any:
        if not isinstance(value, accepted) or (isinstance(value, bool) and cls is not bool):
            raise TypeError(f"expected {expected}, got {type(value).__name__} {value!r}")
        return float(value) if cls is float else value
    return hook


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    for cls, accepted, expected in ((int, int, "an integer"), (float, (int, float), "a number"),
                                    (str, str, "a string"), (bool, bool, "true or false")):
        conv.register_structure_hook(cls, _strict(cls, accepted, expected))

    def table_hook(cls: type) -> Any:
        inner = make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=True, _cattrs_detailed_validation=True)

        def structure_table(value: Any, t: type) -> Any:
            if not isinstance(value, Mapping):  # e.g. --set training.loop=3 where a table belongs
                raise TypeError(f"expected a table, got {type(value).__name__} {value!r}")
            return inner(value, t)
        return structure_table

    conv.register_structure_hook_factory(attrs.has, table_hook)
    return conv


converter = _make_converter()


def _flatten_errors(exc: BaseException, path: str) -> list[str]:
    if isinstance(exc, ForbiddenExtraKeysError):
        return [f"{path + '.' if path else ''}{key}: unknown key" for key in sorted(exc.extra_fields)]
    if isinstance(exc, (ClassValidationError, IterableValidationError)):
        handled, unhandled = exc.group_exceptions()
        out: list[str] = []
        for sub, note in handled:
            name = getattr(note, "name", None)
            if name is None:
                sub_path = f"{path}[{getattr(note, 'index', None)}]"
            else:
                sub_path = f"{path}.{name}" if path else str(name)
            out.extend(_flatten_errors(sub, sub_path))
        return out + [line for sub in unhandled for line in _flatten_errors(sub, path)]
    if isinstance(exc, KeyError):
        return [f"{path}: required key missing"]
    if isinstance(exc, BaseExceptionGroup):
        return [line for sub in exc.exceptions for line in _flatten_errors(sub, path)]
    field, sep, rest = str(exc).partition(" must ")
    if sep and field.isidentifier():  # a field validator's "NAME must ...": name the key, not its table
        return [f"{path + '.' if path else ''}{field}: must {rest}"]
    return [f"{path or '<top level>'}: {exc}"]


def structure(cls: type, data: Any, *, path: str = "", source: str = "<config>") -> Any:
    """Build config class ``cls`` from plain ``data``; raises :class:`ConfigError` naming each bad key."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: {path or '<top level>'}: expected a table, got {type(data).__name__}")
    try:
        return converter.structure(dict(data), cls)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"{source}: " + "; ".join(_flatten_errors(exc, path))) from None


def unstructure(obj: Any) -> Any:
    """Plain dict/list form of a config object (for TOML/JSON output and checkpoints)."""
    return converter.unstructure(obj)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file; every way it can fail is a :class:`ConfigError` naming the file."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a folder; give the path of a TOML config file") from None
    except PermissionError:
        raise ConfigError(f"{p}: not readable (permission denied)") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a text file; give the path of a TOML config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``a.b.c=value``; the value is read as TOML, else as a bare string (``--set backbone.name=x``)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected KEY.PATH=VALUE")
    keys = [k.strip() for k in key.strip().split(".")]
    if any(not k for k in keys):
        raise ConfigError(f"--set {text!r}: empty key in path {key!r}")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return keys, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``--set`` override applied (creating tables as needed)."""
    data = copy.deepcopy(data)
    for text in overrides:
        keys, value = parse_override(text)
        node: Any = data
        for i, k in enumerate(keys[:-1]):
            if isinstance(node, list):
                try:
                    node = node[int(k)]
                    continue
                except (ValueError, IndexError):
                    raise ConfigError(f"--set {text!r}: {'.'.join(keys[:i + 1])} is not a list index") from None
            nxt = node.setdefault(k, {})
            if not isinstance(nxt, (dict, list)):
                raise ConfigError(f"--set {text!r}: {'.'.join(keys[:i + 1])} is a value, not a table")
            node = nxt
        if isinstance(node, list):
            try:
                node[int(keys[-1])] = value
            except (ValueError, IndexError):
                raise ConfigError(f"--set {text!r}: {keys[-1]!r} is not a valid list index") from None
        else:
            node[keys[-1]] = value
    return data


def to_toml(data: Mapping[str, Any]) -> str:
    """Serialise plain config data as TOML (tables after scalars, arrays of tables supported)."""
    lines: list[str] = []

    def scalar(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        if v is None:
            return '"none"'
        raise TypeError(f"cannot write {type(v).__name__} to TOML")

    def is_table_list(v: Any) -> bool:
        return isinstance(v, (list, tuple)) and len(v) > 0 and all(isinstance(x, Mapping) for x in v)

    def emit(table: Mapping[str, Any], prefix: str) -> None:
        lines.extend(f"{k} = {scalar(v)}" for k, v in table.items()
                     if v is not None and not isinstance(v, Mapping) and not is_table_list(v))
        for k, v in table.items():
            full = f"{prefix}.{k}" if prefix else k
            if isinstance(v, Mapping):
                lines.extend(["", f"[{full}]"])
                emit(v, full)
            elif is_table_list(v):
                for item in v:
                    lines.extend(["", f"[[{full}]]"])
                    emit(item, full)

    emit(data, "")
    return "\n".join(lines).lstrip("\n") + "\n"
