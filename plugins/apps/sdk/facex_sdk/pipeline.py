"""The resolved SDK setup: the config's tables, its stages built on demand, their
:class:`facex_core.Pipeline`, and the decision threshold.

Each stage table is validated by its component's config class (unknown or mistyped keys name the key
and the source); a default stage whose plugin is not installed is one error naming what to install;
stages that do not fit together are one error naming both (:mod:`facex_sdk.fit`).

Work on crops that are aligned already (``--aligned``, ``FaceAnalyzer.embed(..., aligned=True)``) needs
only the aligner (the crop convention it promises: template, size, channels) and the recognizer:
:meth:`SdkSetup.crop_recognizer`, and ``crops_only=True`` for :meth:`SdkSetup.identity` and
:meth:`SdkSetup.threshold`, never build the detector or the landmarker, so their plugins need not be
installed.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

from facex_core import ConfigError, RegistryError

from .calibration_record import calibration_beside, calibration_mismatch, read_calibration
from .config import (DEFAULT_NAMES, DEFAULT_THRESHOLD, MASKED_DETECTION_THRESHOLD, NO_STAGE, STAGES, TABLES,
                     GalleryConfig, SdkConfig, install_hint)
from .fit import check_fit
from .identity import recognizer_identity, stage_identity


#: The only stages built and recorded for already aligned crops (their convention, their embedder).
CROP_STAGES = ("aligner", "recognizer")


class Threshold(NamedTuple):
    """The decision threshold on cosine similarity and where it came from."""

    value: float
    source: str
    """``config``, ``calibration``, ``recognizer`` or ``placeholder``."""
    description: str
    """Human words for the source, e.g. ``calibration runs/x/last.pt.facex-calibration.json``."""


class SdkSetup:
    """The resolved SDK config: raw tables, the ``[sdk]`` settings and lazily built stages.

    ``path`` is a TOML file, or a mapping of the same tables (the Python API); ``defaults`` replaces
    :data:`~facex_sdk.config.DEFAULT_NAMES` for some stages (``data align`` uses ``arcface_5pt``).
    """

    def __init__(self, path: str | Path | Mapping[str, Any] | None, overrides: Sequence[str] = (),
                 defaults: dict[str, str] | None = None) -> None:
        import copy

        from facex_core import apply_overrides, load_toml, structure_config

        if isinstance(path, Mapping):
            data, origin = copy.deepcopy(dict(path)), ["<dict>"]
        else:
            data, origin = (load_toml(path) if path else {}), ([str(path)] if path else [])
        data = apply_overrides(data, list(overrides))
        self.source = " + ".join([*origin, *(["--set"] if overrides else [])]) or "<defaults>"
        unknown = sorted(set(data) - set(TABLES))
        if unknown:
            raise ConfigError(f"{self.source}: unknown table(s) {unknown}; expected any of {list(TABLES)}")
        for key, value in data.items():
            if not isinstance(value, dict):
                raise ConfigError(f"{self.source}: {key}: expected a table, got {type(value).__name__}")
        self.data = data
        self.defaults = {**DEFAULT_NAMES, **(defaults or {})}
        self.settings = structure_config(SdkConfig, data.get("sdk", {}), path="sdk", source=self.source)
        self.names: dict[str, str] = {}
        self.tables: dict[str, dict[str, Any]] = {}
        self._built: dict[str, Any] = {}
        self._thresholds: dict[bool, Threshold] = {}  # by crops_only
        self._identities: dict[bool, dict[str, Any]] = {}  # by crops_only

    def _entry(self, kind: str, name: str, defaulted: bool) -> Any:
        from facex_core import registry

        try:
            return registry().get(kind, name)
        except RegistryError as exc:
            hint = install_hint(name)
            if not hint or name.rpartition(":")[2] in registry().names(kind):
                raise ConfigError(f"{self.source}: {kind}.name: {exc}") from None
            what = f"the default {kind} {name!r}" if defaulted else f"{kind} {name!r}"
            installed = ", ".join(registry().names(kind)) or "none"
            raise ConfigError(f"{self.source}: {what} is not installed: {hint}; or choose another with "
                              f"--set {kind}.name=NAME (installed: {installed})") from None

    def _scene_values(self, kind: str, entry: Any, values: dict[str, Any]) -> dict[str, Any]:
        import attrs

        if kind != "detector" or self.settings.scene != "masked":
            return values
        name = getattr(entry.component.config, "score_threshold_field", None)
        if name is None:
            print(f"facex-core sdk: scene 'masked': detector {entry.name} names no probability threshold "
                  f"(score_threshold_field in its config); left as configured", file=sys.stderr)
        elif name not in values:
            default = attrs.fields_dict(entry.component.config)[name].default
            if default > MASKED_DETECTION_THRESHOLD:
                values = {**values, name: MASKED_DETECTION_THRESHOLD}
            else:
                print(f"facex-core sdk: scene 'masked': detector {entry.name} keeps {name} = {default!r} "
                      f"(not above {MASKED_DETECTION_THRESHOLD})", file=sys.stderr)
        return values

    def stage(self, kind: str, required_by: str | None = None) -> Any:
        """Build stage ``kind`` from its table (or its default); ``None`` for a skipped landmarker.

        A default stage whose plugin is not installed is a :class:`ConfigError` naming the distribution.
        """
        from facex_core import build_from_table

        if kind in self._built:
            return self._built[kind]
        values = dict(self.data.get(kind, {}))
        name = values.pop("name", None)
        defaulted = name is None
        name = self.defaults.get(kind) if defaulted else name
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{self.source}: {kind}.name: required"
                              f"{f' by `sdk {required_by}`' if required_by else ''} (a [{kind}] table in "
                              f"--config, or --set {kind}.name=...)")
        if name == NO_STAGE:
            if kind != "landmarker":
                raise ConfigError(f"{self.source}: {kind}.name: only the landmarker can be {NO_STAGE!r}")
            self._built[kind] = None
            self.names[kind] = NO_STAGE
            return None
        entry = self._entry(kind, name, defaulted)
        values = self._scene_values(kind, entry, values)
        try:
            _, _, component = build_from_table(kind, {"name": name, **values}, path=kind, source=self.source)
        except ConfigError:
            raise
        except (ValueError, OSError, ImportError, TypeError) as exc:  # e.g. missing weights or checkpoint
            raise ConfigError(f"{self.source}: [{kind}] {name}: {exc}") from None
        self._built[kind] = component
        self.names[kind] = entry.name
        self.tables[kind] = {"name": entry.name, **values}
        return component

    def pipeline(self, *, align: bool = False, embed: bool = False, command: str) -> Any:
        """The :class:`facex_core.Pipeline` of the stages a command needs (built now, so a config
        mistake is one clear error before any image is read); ``command`` names it in errors."""
        from facex_core import Pipeline

        detector = self.stage("detector", command)
        aligner = self.stage("aligner", command) if align or embed else None
        recognizer = self.stage("recognizer", command) if embed else None
        landmarker = self.stage("landmarker")
        check_fit(self.names, {"detector": detector, "landmarker": landmarker, "aligner": aligner,
                               "recognizer": recognizer})
        return Pipeline(detector, aligner, recognizer, landmarker=landmarker)

    def crop_recognizer(self, command: str) -> Any:
        """The recognizer, for crops already aligned as the aligner aligns: builds the aligner and the
        recognizer only (never the detector or landmarker) and checks that they fit (:func:`check_fit`:
        template, crop size, channels); ``command`` names it in errors."""
        aligner = self.stage("aligner", command)
        recognizer = self.stage("recognizer", command)
        check_fit(self.names, {"aligner": aligner, "recognizer": recognizer})
        return recognizer

    def gallery_config(self) -> GalleryConfig:
        """The ``[gallery]`` table: how a gallery built with this setup indexes its identities."""
        from facex_core import structure_config

        return structure_config(GalleryConfig, self.data.get("gallery", {}), path="gallery", source=self.source)

    def identity(self, *, crops_only: bool = False) -> dict[str, Any]:
        """What this pipeline's embeddings depend on (:mod:`facex_sdk.identity`); builds every stage
        (with ``crops_only``, two).

        ``crops_only``: the identity of embeddings of already aligned crops, which only the aligner
        (the crops' convention) and the recognizer made: only those two are built and recorded (a stage
        one identity does not record is not compared, so it matches full pipelines with the same two)."""
        if crops_only not in self._identities:
            if crops_only:
                self.crop_recognizer("identity")
            else:
                self.pipeline(embed=True, command="identity")
            kinds = CROP_STAGES if crops_only else STAGES
            self._identities[crops_only] = {k: stage_identity(k, self.names[k], self._built[k]) for k in kinds}
        return self._identities[crops_only]

    # -- the decision threshold -----------------------------------------------------------------
    def threshold(self, *, crops_only: bool = False) -> Threshold:
        """``(value, source, description)``: explicit ``[sdk] threshold`` > calibration record >
        the recognizer's documented default (``default_threshold``) > the 0.35 placeholder.

        ``crops_only``: for already aligned crops; a calibration record is matched against
        ``identity(crops_only=True)`` (detector and landmarker neither built nor compared)."""
        if crops_only not in self._thresholds:
            self._thresholds[crops_only] = Threshold(*self._resolve_threshold(crops_only))
        return self._thresholds[crops_only]

    def _resolve_threshold(self, crops_only: bool = False) -> tuple[float, str, str]:
        if self.settings.threshold is not None:
            return float(self.settings.threshold), "config", "[sdk] threshold"
        recognizer = self.stage("recognizer")
        if self.settings.calibration:
            path = Path(self.settings.calibration).expanduser()
            record = read_calibration(path)
            problem = self.calibration_mismatch(record, crops_only=crops_only)
            if problem:
                raise ConfigError(f"{path}: {problem}: recalibrate with `facex-core sdk calibrate`")
            return float(record["threshold"]), "calibration", f"calibration {path}"
        beside = calibration_beside(recognizer)
        if beside is not None and beside.is_file():
            try:
                record = read_calibration(beside)
                problem = self.calibration_mismatch(record, crops_only=crops_only)
            except ConfigError as exc:
                problem = str(exc)
            if problem:
                print(f"facex-core sdk: warning: {beside} ignored: {problem}", file=sys.stderr)
            else:
                return float(record["threshold"]), "calibration", f"calibration {beside}"
        default = getattr(recognizer, "default_threshold", None)
        if default is None:
            default = getattr(recognizer.config, "default_threshold", None)
        if default is not None:
            return float(default), "recognizer", f"documented default of recognizer {self.names['recognizer']}"
        return DEFAULT_THRESHOLD, "placeholder", "placeholder default, NOT calibrated: run `sdk calibrate`"

    def recognizer_identity(self) -> dict[str, Any]:
        """What a calibration depends on: the recognizer's name, settings and model file digest."""
        recognizer = self.stage("recognizer")
        return recognizer_identity(self.names["recognizer"], recognizer)

    def calibration_mismatch(self, record: dict[str, Any], *, crops_only: bool = False) -> str:
        """Why ``record`` does not fit the pipeline in use ("" if it does); ``crops_only``: the stages
        used on already aligned crops (aligner, recognizer), the only ones then compared."""
        return calibration_mismatch(record, self.identity(crops_only=crops_only))
