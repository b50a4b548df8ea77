"""Config-class helpers: frozen attrs classes whose fields carry a one-line doc."""
from __future__ import annotations

from typing import Any, Callable

import attrs

DOC_KEY = "facex_doc"


def option(default: Any = attrs.NOTHING, *, doc: str, validator: Callable | None = None,
           factory: Callable[[], Any] | None = None) -> Any:
    """Declare a config field with its default and the one-line doc that `describe` shows."""
    if factory is not None:
        return attrs.field(factory=factory, validator=validator, metadata={DOC_KEY: doc})
    return attrs.field(default=default, validator=validator, metadata={DOC_KEY: doc})


def config(cls: type) -> type:
    """Make ``cls`` a frozen, keyword-only attrs config class (the form every component config takes)."""
    return attrs.frozen(kw_only=True)(cls)


def describe_fields(cls: type) -> list[dict[str, Any]]:
    """Name, type, default and doc of every field of a config class, for `describe` and `config show`."""
    rows = []
    for f in attrs.fields(cls):
        if f.default is attrs.NOTHING:
            default: Any = "<required>"
        elif isinstance(f.default, attrs.Factory):  # type: ignore[arg-type]
            default = f.default.factory()
        else:
            default = f.default
        typ = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", repr(f.type))
        rows.append({"name": f.name, "type": str(typ), "default": default,
                     "doc": f.metadata.get(DOC_KEY, "")})
    return rows
