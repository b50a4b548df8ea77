"""Calibration records: the JSON file ``sdk calibrate`` writes, where it lives and whether it still applies.

A record is plain JSON (nothing executable is read) stored beside the recognizer's model file
(``<model file>.facex-calibration.json``) or wherever ``--out`` put it. It holds what the threshold
depends on, the identity of the pipeline (:mod:`facex_sdk.identity`: stages, settings, the
recognizer's model-file digest), so a record made for another pipeline is never used silently.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from facex_core import ConfigError

from .identity import model_file, pipeline_mismatch

#: Suffix of the calibration record written beside a recognizer's model file.
CALIBRATION_SUFFIX = ".facex-calibration.json"
CALIBRATION_FORMAT = "facex-sdk-calibration"


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


def recorded_identity(record: dict[str, Any]) -> dict[str, Any]:
    """The pipeline identity a record was made for (records before ``stages`` was written: the
    recognizer's identity and the other stages' names)."""
    if isinstance(record.get("stages"), dict):
        return record["stages"]
    tables = record.get("pipeline") if isinstance(record.get("pipeline"), dict) else {}
    names = {k: {"name": v["name"]} for k, v in tables.items() if isinstance(v, dict) and "name" in v}
    return {**names, "recognizer": record.get("recognizer", {})}


def calibration_mismatch(record: dict[str, Any], now: dict[str, Any]) -> str:
    """Why ``record`` does not fit the pipeline whose identity is ``now`` ("" if it does)."""
    return pipeline_mismatch(recorded_identity(record), now)
