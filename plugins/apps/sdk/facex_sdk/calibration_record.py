"""Calibration records: the JSON file ``sdk calibrate`` writes, where it lives and whether it still applies.

A record is plain JSON (nothing executable is read) stored beside the recognizer's model file
(``<model file>.facex-calibration.json``) or wherever ``--out`` put it. It holds what the threshold
depends on, the recognizer's name, settings and model-file digest, so a record made for another
recognizer is never used silently.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from facex_core import ConfigError

#: Suffix of the calibration record written beside a recognizer's model file.
CALIBRATION_SUFFIX = ".facex-calibration.json"
CALIBRATION_FORMAT = "facex-sdk-calibration"
#: Recognizer config keys that change how fast, not what, it computes: ignored when matching calibrations.
RUNTIME_KEYS = ("batch_size", "device", "providers", "threads")


def model_file(recognizer: Any) -> Path | None:
    """The recognizer's weights file: its ``model_file`` attribute, else a ``checkpoint``/``model`` path."""
    found = getattr(recognizer, "model_file", None)
    for key in ("checkpoint", "model"):
        if found is None:
            value = getattr(recognizer.config, key, None)
            found = value if isinstance(value, str) and value and Path(value).expanduser().is_file() else None
    return None if found is None else Path(found).expanduser()


def calibration_beside(recognizer: Any) -> Path | None:
    """Where the calibration record of ``recognizer`` lives beside its model file (None: no model file)."""
    model = model_file(recognizer)
    return None if model is None else model.with_name(model.name + CALIBRATION_SUFFIX)


def installed_package_dir(path: Path) -> bool:
    """Whether ``path`` lies in an installed package (site-packages): no place for a user's record."""
    import sysconfig

    roots = {Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
    resolved = path.resolve()
    return any(root == resolved or root in resolved.parents for root in roots) \
        or any(part in ("site-packages", "dist-packages") for part in resolved.parts)


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_calibration(path: Path) -> dict[str, Any]:
    """Load and check a calibration record (plain JSON: nothing executable is read)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: calibration record not found") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable calibration record ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != CALIBRATION_FORMAT \
            or not isinstance(record.get("threshold"), (int, float)):
        raise ConfigError(f"{path}: not a FaceX calibration record (written by `facex-core sdk calibrate`)")
    return record


def recognizer_identity(name: str, recognizer: Any) -> dict[str, Any]:
    """What a calibration depends on: the recognizer's name, settings and model file digest."""
    import attrs

    settings = {k: v for k, v in attrs.asdict(recognizer.config).items() if k not in RUNTIME_KEYS}
    model = model_file(recognizer)
    return {"name": name, "config": json.loads(json.dumps(settings, default=str)),
            "model_file": None if model is None else str(model),
            "model_sha256": None if model is None else _sha256(model)}


def calibration_mismatch(record: dict[str, Any], now: dict[str, Any]) -> str:
    """Why ``record`` does not fit the recognizer whose identity is ``now`` ("" if it does)."""
    then = record.get("recognizer", {})
    if then.get("name") != now["name"]:
        return f"made for recognizer {then.get('name')!r}, not {now['name']!r}"
    if then.get("model_sha256") and now["model_sha256"] and then["model_sha256"] != now["model_sha256"]:
        return f"made for another model file ({then.get('model_file')})"
    changed = sorted(k for k in set(then.get("config", {})) | set(now["config"])
                     if then.get("config", {}).get(k) != now["config"].get(k))
    if changed:
        return f"made with other recognizer settings ({', '.join(changed)})"
    return ""
