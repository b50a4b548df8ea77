"""Config-class helpers: frozen attrs classes whose fields carry a one-line doc and their valid range;
float fields reject NaN and infinities (a NaN learning rate would train into an all-NaN checkpoint)."""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import attrs

DOC_KEY = "facex_doc"
RANGE_KEY = "facex_range"  #: Metadata key under which :func:`option` records a field's declared bounds and choices.

_BOUNDS = {"ge": (lambda v, b: v >= b, ">="), "gt": (lambda v, b: v > b, ">"),
           "le": (lambda v, b: v <= b, "<="), "lt": (lambda v, b: v < b, "<")}


def _numbers(value: Any) -> list[Any]:
    items = value if isinstance(value, (tuple, list)) else [value]
    return [v for v in items if isinstance(v, (int, float)) and not isinstance(v, bool)]


def _range_validator(bounds: dict[str, float], choices: Sequence[Any] | None) -> Callable[[Any, Any, Any], None]:
    def check(_instance: Any, attribute: Any, value: Any) -> None:
        if choices is not None and value not in choices:
            names = ", ".join(c if isinstance(c, str) else repr(c) for c in choices)
            raise ValueError(f"{attribute.name} must be one of {names}, got {value!r}")
        for v in _numbers(value):
            for key, bound in bounds.items():
                ok, sign = _BOUNDS[key]
                if not ok(v, bound):
                    raise ValueError(f"{attribute.name} must be {sign} {bound:g}, got {v!r}")
    return check


def option(default: Any = attrs.NOTHING, *, doc: str, validator: Callable | None = None,
           factory: Callable[[], Any] | None = None, ge: float | None = None, gt: float | None = None,
           le: float | None = None, lt: float | None = None, choices: Sequence[Any] | None = None) -> Any:
    """Declare a config field: default, one-line doc and valid range (bounds apply to each number of a tuple)."""
    bounds = {k: v for k, v in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)) if v is not None}
    validators = [v for v in (validator,) if v is not None]
    if bounds or choices is not None:
        validators.insert(0, _range_validator(bounds, tuple(choices) if choices is not None else None))
    metadata = {DOC_KEY: doc, RANGE_KEY: {**bounds, **({"choices": tuple(choices)} if choices is not None else {})}}
    default = default if factory is None else attrs.Factory(factory)
    return attrs.field(default=default, validator=validators or None, metadata=metadata)  # a list: all must pass


def _is_float_field(annotation: Any) -> bool:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", repr(annotation))
    return "float" in str(text)


def _check_finite(_instance: Any, attribute: Any, value: Any) -> None:
    for v in _numbers(value):
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"{attribute.name} must be a finite number, got {v!r}")


def _finite_floats(_cls: type, fields: list[attrs.Attribute]) -> list[attrs.Attribute]:
    both = attrs.validators.and_
    return [f.evolve(validator=_check_finite if f.validator is None else both(_check_finite, f.validator))
            if _is_float_field(f.type) else f for f in fields]


def config(cls: type) -> type:
    """Make ``cls`` a frozen, keyword-only attrs config class whose float fields reject NaN and infinities."""
    return attrs.frozen(kw_only=True, field_transformer=_finite_floats)(cls)


def describe_fields(cls: type) -> list[dict[str, Any]]:
    """Name, type, default, doc and declared range of every field of a config class."""
    rows = []
    for f in attrs.fields(cls):
        default = ("<required>" if f.default is attrs.NOTHING
                   else f.default.factory() if isinstance(f.default, attrs.Factory)  # type: ignore[arg-type]
                   else f.default)
        typ = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", repr(f.type))
        rows.append({"name": f.name, "type": str(typ), "default": default,
                     "doc": f.metadata.get(DOC_KEY, ""), "range": dict(f.metadata.get(RANGE_KEY, {}))})
    return rows
