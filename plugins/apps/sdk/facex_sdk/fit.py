"""Whether the stages of a pipeline fit together, from what each stage class declares.

A stage class may declare, as class attributes (plain values, so stage plugins need nothing from
facex-sdk), what it produces and what it needs:

* detector, landmarker: ``landmark_layouts``, the layouts of the landmarks it sets (``()``: none);
* aligner: ``accepts_layouts`` (the landmark layouts it can align), ``crop_template`` (the geometry
  of its crops: ``"arcface"`` = the ArcFace 5-point template, ``"dlib_chip"`` = ``dlib.get_face_chip``),
  ``crop_size_field`` (the config field holding the crop side) and ``crop_channels`` (``"bgr"``);
* recognizer: ``crop_template`` and ``crop_channels`` it was trained on, and ``crop_size`` (the side it
  needs, ``None``: any, resized to the network's input).

Layout names: ``arcface5`` (eyes, nose tip, mouth corners: RetinaFace/InsightFace order),
``facexzoo25``, ``ibug68``, ``jd106``, ``mesh468``, ``mesh478`` (MediaPipe FaceMesh), ``dlib5`` (dlib's
eye corners and nose base), ``mediapipe6`` (MediaPipe detection keypoints). A stage that declares
nothing is not checked (third-party stages keep working as before).
"""
from __future__ import annotations

import importlib
from typing import Any

from facex_core import ConfigError

def _declared(stage: Any, attribute: str) -> Any:
    return getattr(stage, attribute, None) if stage is not None else None


def _listing(values: Any) -> str:
    return ", ".join(values) if values else "none"


def _installed_fitting(kind: str, test: Any) -> list[str]:
    """Installed ``kind`` components whose class passes ``test`` (for the fix of an error message)."""
    from facex_core import registry

    found = []
    for name in registry().names(kind):
        try:
            module, _, attr = registry().get(kind, name).component.factory.partition(":")
            cls = getattr(importlib.import_module(module), attr)
        except Exception:  # noqa: BLE001 - a broken plugin is simply not suggested
            continue
        if test(cls):
            found.append(name)
    return found


def _fix(kind: str, names: list[str]) -> str:
    """``--set KIND.name=A or --set KIND.name=B`` (at most three; empty when there is none)."""
    return " or ".join(f"--set {kind}.name={n}" for n in names[:3])


def check_fit(names: dict[str, str], stages: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` naming both stages and the fix when two stages of ``stages``
    (kind → built stage or ``None``) disagree on landmarks, crop geometry, crop size or channels."""
    aligner, recognizer = stages.get("aligner"), stages.get("recognizer")
    source_kind = "landmarker" if stages.get("landmarker") is not None else "detector"
    source = stages.get(source_kind)
    given, accepted = _declared(source, "landmark_layouts"), _declared(aligner, "accepts_layouts")
    if given is not None and accepted is not None and (not given or set(given) - set(accepted)):
        landmarkers = _installed_fitting("landmarker", lambda c: bool(getattr(c, "landmark_layouts", None))
                                         and not set(c.landmark_layouts) - set(accepted))
        aligners = [] if not given else _installed_fitting(
            "aligner", lambda c: not set(given) - set(getattr(c, "accepts_layouts", None) or ()))
        fixes = [f for f in (_fix("landmarker", landmarkers), _fix("aligner", aligners)) if f]
        what = "no landmarks" if not given else f"landmarks {_listing(given)}"
        raise ConfigError(f"{source_kind} {names[source_kind]} gives {what}, but aligner {names['aligner']} "
                          f"takes {_listing(accepted)}: {' or '.join(fixes) or 'choose stages that fit'}")
    if aligner is None or recognizer is None:
        return
    made, needed = _declared(aligner, "crop_template"), _declared(recognizer, "crop_template")
    if made is not None and needed is not None and made != needed:
        fix = _fix("aligner", _installed_fitting("aligner", lambda c: getattr(c, "crop_template", None) == needed))
        raise ConfigError(f"recognizer {names['recognizer']} needs {needed!r} crops, but aligner "
                          f"{names['aligner']} makes {made!r} crops (other crops than it was trained on give "
                          f"other scores): {fix or f'use an aligner that makes {needed!r} crops'}")
    size_field, size = _declared(aligner, "crop_size_field"), _declared(recognizer, "crop_size")
    if size_field and size is not None:
        side = getattr(aligner.config, size_field, None)
        if side is not None and side != size:
            raise ConfigError(f"recognizer {names['recognizer']} needs {size}×{size} crops, but aligner "
                              f"{names['aligner']} makes {side}×{side}: --set aligner.{size_field}={size}")
    made, needed = _declared(aligner, "crop_channels"), _declared(recognizer, "crop_channels")
    if made is not None and needed is not None and made != needed:
        raise ConfigError(f"recognizer {names['recognizer']} needs {needed.upper()} crops, but aligner "
                          f"{names['aligner']} makes {made.upper()} crops: choose stages with the same channel order")
