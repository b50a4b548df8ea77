"""What a face embedding depends on: the pipeline's identity, recorded with calibrations and galleries.

Two embeddings are comparable only when the same landmarks, crops and recognizer made them. The
identity of a pipeline is each stage's name and, for the landmarker, aligner and recognizer, their
settings (without the ones that change speed, not results: :data:`RUNTIME_KEYS`) and the digest of
the recognizer's model file. The detector counts by name only: its settings decide which faces are
found, not how a found face is embedded.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

#: Config keys that change how fast, not what, a stage computes: ignored when matching identities.
RUNTIME_KEYS = ("batch_size", "device", "providers", "threads")
#: The stages whose settings (not only their name) are part of a pipeline's identity.
SETTLED = ("landmarker", "aligner", "recognizer")


def model_file(recognizer: Any) -> Path | None:
    """The recognizer's weights file: its ``model_file`` attribute, else a ``checkpoint``/``model`` path."""
    found = getattr(recognizer, "model_file", None)
    for key in ("checkpoint", "model"):
        if found is None:
            value = getattr(recognizer.config, key, None)
            found = value if isinstance(value, str) and value and Path(value).expanduser().is_file() else None
    return None if found is None else Path(found).expanduser()


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def settings(component: Any) -> dict[str, Any]:
    """A stage's config as plain JSON values, without :data:`RUNTIME_KEYS`."""
    import attrs

    values = {k: v for k, v in attrs.asdict(component.config).items() if k not in RUNTIME_KEYS}
    return json.loads(json.dumps(values, default=str))


def recognizer_identity(name: str, recognizer: Any) -> dict[str, Any]:
    """What a calibration depends on: the recognizer's name, settings and model file digest."""
    model = model_file(recognizer)
    return {"name": name, "config": settings(recognizer),
            "model_file": None if model is None else str(model),
            "model_sha256": None if model is None else sha256(model)}


def stage_identity(kind: str, name: str, component: Any) -> dict[str, Any]:
    """One stage's part of a pipeline identity (see the module docstring)."""
    if component is None or kind == "detector":
        return {"name": name}
    if kind == "recognizer":
        return recognizer_identity(name, component)
    return {"name": name, "config": settings(component)}


def recognizer_mismatch(then: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    """Why recognizer identity ``then`` is not ``now`` ("" when they match)."""
    if then.get("name") != now["name"]:
        return f"made for recognizer {then.get('name')!r}, not {now['name']!r}"
    if then.get("model_sha256") and now.get("model_sha256") and then["model_sha256"] != now["model_sha256"]:
        return f"made for another model file ({then.get('model_file')})"
    return _settings_mismatch("recognizer", then, now)


def _settings_mismatch(kind: str, then: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    if "config" not in then or "config" not in now:
        return ""
    old, new = then["config"], now["config"]
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return f"made with other {kind} settings ({', '.join(changed)})" if changed else ""


def pipeline_mismatch(then: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    """Why pipeline identity ``then`` (kind → stage identity) is not ``now`` ("" when they match).

    A stage ``then`` does not record is not compared (records written before it was recorded)."""
    for kind in ("recognizer", "aligner", "landmarker", "detector"):
        old, new = then.get(kind), now.get(kind)
        if old is None or new is None:
            continue
        if kind == "recognizer":
            problem = recognizer_mismatch(old, new)
        elif old.get("name") != new.get("name"):
            problem = f"made with {kind} {old.get('name')!r}, not {new.get('name')!r}"
        else:
            problem = _settings_mismatch(kind, old, new)
        if problem:
            return problem
    return ""
