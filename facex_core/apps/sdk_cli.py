"""``facex-core sdk``: detect, align, embed, compare, search, annotate and calibrate from the command line.

The stages come from one optional TOML file (``--config sdk.toml``) plus ``--set`` overrides. Without
either, the zero-download pipeline runs: detector ``mediapipe`` → landmarker ``mediapipe_mesh`` →
aligner ``dlib_chip`` → recognizer ``dlib_resnet`` (models shipped in the mediapipe and
face-recognition-models wheels)::

    [detector]            # default: mediapipe
    name = "retinaface_mnet025"
    weights = "retinaface_mobilenet0.25.npz"
    [landmarker]          # default: mediapipe_mesh; name = "none" skips the stage
    name = "none"
    [aligner]             # default: dlib_chip
    name = "arcface_5pt"
    [recognizer]          # default: dlib_resnet
    name = "facex"
    checkpoint = "runs/demo/checkpoints/last.pt"
    [sdk]
    threshold = 0.5       # else: calibration file, the recognizer's documented default, 0.35
    scene = "masked"      # lower detection threshold for masked faces

Each stage table is validated by its component's config class (unknown or mistyped keys name the key
and the source). Batches never stop at a bad file: every input gets a result, ``{"file": ..., "error":
...}`` for unreadable or non-image files and ``"faces": []`` when no face is found. This module imports
only the standard library at import time (it is loaded whenever the parser is built).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

STAGES = ("detector", "landmarker", "aligner", "recognizer")
#: The zero-download default pipeline: every model ships inside a wheel (mediapipe, face-recognition-models).
DEFAULT_NAMES = {"detector": "mediapipe", "landmarker": "mediapipe_mesh", "aligner": "dlib_chip",
                 "recognizer": "dlib_resnet"}
#: ``[landmarker] name = "none"`` runs without a landmark stage (the detector's own landmarks are used).
NO_STAGE = "none"
#: Where the SDK components of the FaceX project come from, for "not installed" errors.
DISTRIBUTIONS = {"mediapipe": "mediapipe", "mediapipe_mesh": "mediapipe", "dlib_hog": "dlib",
                 "dlib_5pt": "dlib", "dlib_68pt": "dlib", "dlib_chip": "dlib", "dlib_resnet": "dlib",
                 "retinaface_mnet025": "retinaface", "arcface_5pt": "aligner", "facex": "recognizer",
                 "onnx": "recognizer"}
TABLES = (*STAGES, "sdk")
#: The last-resort decision threshold: a placeholder, used only when nothing better is known.
DEFAULT_THRESHOLD = 0.35
#: Scenes: ``masked`` lowers the detector's score threshold to FaceX-Zoo's masked-face value
#: (face_detection_2.0 model_meta: confidence_threshold 0.4, against 0.7 for 1.0).
SCENES = ("default", "masked")
MASKED_DETECTION_THRESHOLD = 0.4
#: Detector config fields that hold a score threshold in [0, 1], by the names FaceX detectors use.
#: Suffix of the calibration record written beside a recognizer's model file.
CALIBRATION_SUFFIX = ".facex-calibration.json"
CALIBRATION_FORMAT = "facex-sdk-calibration"
#: Recognizer config keys that change how fast, not what, it computes: ignored when matching calibrations.
RUNTIME_KEYS = ("batch_size", "device", "providers", "threads")


def _sdk_config_class() -> type:
    import attrs

    from ..configs.options import config, option

    @config
    class SdkConfig:
        """The ``[sdk]`` table: settings of the commands rather than of a stage."""

        threshold: float | None = option(None,
                                         doc="cosine similarity at or above which two faces are called the "
                                             "same person; unset: the calibration record (sdk calibrate), "
                                             "else the recognizer's documented default, else 0.35 "
                                             "(an uncalibrated placeholder)")
        calibration: str = option("", doc="calibration record written by `sdk calibrate --out`; the record "
                                          "beside the recognizer's model file is found without it")
        scene: str = option("default", validator=attrs.validators.in_(SCENES),
                            doc="'default', or 'masked': detector score threshold lowered to 0.4 "
                                "(FaceX-Zoo's masked-face detector setting) unless set explicitly")
        face: str = option("largest", validator=attrs.validators.in_(("largest", "best")),
                           doc="which face of an image compare/search/calibrate use: 'largest' (box area) "
                               "or 'best' (detector score)")
        batch_size: int = option(8, validator=attrs.validators.ge(1),
                                 doc="images read and run through the stages together")

    return SdkConfig


def install_hint(name: str) -> str:
    """How to install the distribution that provides SDK component ``name`` (empty if not a FaceX one)."""
    folder = DISTRIBUTIONS.get(name.rpartition(":")[2])
    if folder is None:
        return ""
    return f"pip install facex-sdk-{folder} (in a FaceX checkout: pip install -e plugins/sdk/{folder})"


# -- configuration -------------------------------------------------------------------------------
class SdkSetup:
    """The resolved SDK config: raw tables, the ``[sdk]`` settings and lazily built stages.

    ``defaults`` replaces :data:`DEFAULT_NAMES` for some stages (``data align`` uses ``arcface_5pt``).
    """

    def __init__(self, path: str | None, overrides: Sequence[str],
                 defaults: dict[str, str] | None = None) -> None:
        from ..configs.toml import apply_overrides, load_toml, structure
        from ..errors import ConfigError

        data = load_toml(path) if path else {}
        data = apply_overrides(data, list(overrides))
        self.source = " + ".join([*([path] if path else []), *(["--set"] if overrides else [])]) or "<defaults>"
        unknown = sorted(set(data) - set(TABLES))
        if unknown:
            raise ConfigError(f"{self.source}: unknown table(s) {unknown}; expected any of {list(TABLES)}")
        for key, value in data.items():
            if not isinstance(value, dict):
                raise ConfigError(f"{self.source}: {key}: expected a table, got {type(value).__name__}")
        self.data = data
        self.defaults = {**DEFAULT_NAMES, **(defaults or {})}
        self.settings = structure(_sdk_config_class(), data.get("sdk", {}), path="sdk", source=self.source)
        self.names: dict[str, str] = {}
        self.tables: dict[str, dict[str, Any]] = {}
        self._built: dict[str, Any] = {}
        self._threshold: tuple[float, str, str] | None = None

    def _entry(self, kind: str, name: str, defaulted: bool) -> Any:
        from ..errors import ConfigError, RegistryError
        from ..plugin_api.registry import registry

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
        from ..plugin_api.build import component_config
        from ..errors import ConfigError
        from ..plugin_api.registry import load_factory

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
        _, cfg = component_config(kind, name, values, path=kind, source=self.source)
        try:
            component = load_factory(entry.component)(cfg)
        except ConfigError:
            raise
        except (ValueError, OSError, ImportError, TypeError) as exc:  # e.g. missing weights or checkpoint
            raise ConfigError(f"{self.source}: [{kind}] {name}: {exc}") from None
        self._built[kind] = component
        self.names[kind] = entry.name
        self.tables[kind] = {"name": entry.name, **values}
        return component

    # -- the decision threshold -----------------------------------------------------------------
    def threshold(self) -> tuple[float, str, str]:
        """``(value, source, description)``: explicit ``[sdk] threshold`` > calibration record >
        the recognizer's documented default (``default_threshold``) > the 0.35 placeholder."""
        if self._threshold is None:
            self._threshold = self._resolve_threshold()
        return self._threshold

    def _resolve_threshold(self) -> tuple[float, str, str]:
        from ..errors import ConfigError

        if self.settings.threshold is not None:
            return float(self.settings.threshold), "config", "[sdk] threshold"
        recognizer = self.stage("recognizer")
        if self.settings.calibration:
            path = Path(self.settings.calibration).expanduser()
            record = read_calibration(path)
            problem = self.calibration_mismatch(record)
            if problem:
                raise ConfigError(f"{path}: {problem}: recalibrate with `facex-core sdk calibrate`")
            return float(record["threshold"]), "calibration", f"calibration {path}"
        beside = calibration_beside(recognizer)
        if beside is not None and beside.is_file():
            try:
                record = read_calibration(beside)
                problem = self.calibration_mismatch(record)
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
        import attrs

        recognizer = self.stage("recognizer")
        settings = {k: v for k, v in attrs.asdict(recognizer.config).items() if k not in RUNTIME_KEYS}
        model = model_file(recognizer)
        return {"name": self.names["recognizer"], "config": json.loads(json.dumps(settings, default=str)),
                "model_file": None if model is None else str(model),
                "model_sha256": None if model is None else _sha256(model)}

    def calibration_mismatch(self, record: dict[str, Any]) -> str:
        """Why ``record`` does not fit the recognizer in use ("" if it does)."""
        now = self.recognizer_identity()
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


def _installed_package_dir(path: Path) -> bool:
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
    from ..errors import ConfigError

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


# -- inputs --------------------------------------------------------------------------------------
def collect_files(paths: Iterable[str]) -> tuple[list[Path], bool]:
    """Files given, plus every non-hidden file under given folders (sorted, recursive).

    Paths that do not exist are kept so they get an error result. Returns (files, any folder given).
    """
    files: list[Path] = []
    folder = False
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            folder = True
            files.extend(sorted(f for f in p.rglob("*") if f.is_file()
                                and not any(part.startswith(".") for part in f.relative_to(p).parts)))
        else:
            files.append(p)
    return files, folder


def _read(path: Path) -> tuple[Any, str | None]:
    from ..data.image import ImageLoadError, load_image

    if not path.exists():
        return None, f"{path}: no such file or directory"
    if path.is_dir():
        return None, f"{path}: is a directory"
    try:
        return load_image(path), None
    except ImageLoadError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - e.g. a decoder crash on a malformed file
        return None, f"{path}: cannot decode ({type(exc).__name__}: {exc})"


class Item:
    """One input file and what the stages made of it."""

    def __init__(self, path: Path, image: Any = None, error: str | None = None) -> None:
        self.path = path
        self.image = image
        self.error = error
        self.faces: list[Any] = []


def _run_stages(setup: SdkSetup, images: list[Any], align: bool, embed: bool, command: str) -> list[list[Any]]:
    detector = setup.stage("detector", command)
    faces = detector.detect(images)
    landmarker = setup.stage("landmarker")
    if landmarker is not None:
        faces = landmarker.locate(images, faces)
    if align or embed:
        faces = setup.stage("aligner", command).align(images, faces)
    if embed:
        flat = [f for per_image in faces for f in per_image if f.crop is not None]
        if flat:
            emb = setup.stage("recognizer", command).embed([f.crop for f in flat])
            for f, e in zip(flat, emb):
                f.embedding = e
    return faces


def process(setup: SdkSetup, files: Sequence[Path], *, align: bool = False, embed: bool = False,
            command: str, progress: bool = False) -> Iterator[Item]:
    """Read and run ``files`` in batches; yield one :class:`Item` per file in order, errors included.

    A batch that fails in a stage is rerun image by image so the error lands on the right file.
    """
    from ..runtime.progress import Progress

    # build the stages up front: a config mistake is one clear error, not one per file
    setup.stage("detector", command)
    if align or embed:
        setup.stage("aligner", command)
    if embed:
        setup.stage("recognizer", command)
    setup.stage("landmarker")
    bar = Progress(len(files), desc=command, unit="img") if progress else None
    size = setup.settings.batch_size
    for start in range(0, len(files), size):
        items = [Item(p, *_read(p)) for p in files[start:start + size]]
        ok = [it for it in items if it.error is None]
        if ok:
            try:
                for it, faces in zip(ok, _run_stages(setup, [it.image for it in ok], align, embed, command)):
                    it.faces = faces
            except Exception:  # noqa: BLE001 - isolate the failing image
                for it in ok:
                    try:
                        it.faces = _run_stages(setup, [it.image], align, embed, command)[0]
                    except Exception as exc:  # noqa: BLE001
                        it.error = f"{it.path}: {command} failed ({type(exc).__name__}: {exc})"
                        it.faces = []
        for it in items:
            yield it
            if bar is not None:
                bar.update(1)
            it.image = None  # free the pixels once the consumer is done with them
    if bar is not None:
        bar.close()


# -- outputs -------------------------------------------------------------------------------------
def _r(values: Any, digits: int = 2) -> Any:
    import numpy as np

    return np.round(np.asarray(values, dtype=np.float64), digits).tolist()


def face_json(face: Any) -> dict[str, Any]:
    return {"box": _r(face.box), "score": round(float(face.score), 4),
            "landmarks": None if face.landmarks is None else _r(face.landmarks)}


def _unique(stem: str, used: set[str]) -> str:
    name, k = stem, 2
    while name in used:
        name, k = f"{stem}-{k}", k + 1
    used.add(name)
    return name


def annotate(image: Any, faces: Sequence[Any], labels: Sequence[str] | None = None) -> Any:
    """A copy of ``image`` with each face's box, score (or ``labels[i]``) and landmarks drawn."""
    import cv2
    import numpy as np

    out = image.copy()
    thick = max(1, round(max(out.shape[:2]) / 400))
    colours = [(255, 0, 0), (0, 0, 255), (0, 255, 255), (255, 0, 255), (255, 255, 0)]
    for i, face in enumerate(faces):
        x1, y1, x2, y2 = (int(round(v)) for v in np.asarray(face.box, dtype=np.float64))
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 255, 0), thick)
        text = f"{face.score:.2f}" if labels is None else labels[i]
        cv2.putText(out, text, (x1, max(0, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, (0, 255, 0), thick)
        if face.landmarks is not None:
            points = np.asarray(face.landmarks, dtype=np.float64).reshape(-1, 2)
            dense = len(points) > 68  # a mesh: small dots of one colour stay readable
            for k, (x, y) in enumerate(points):
                cv2.circle(out, (int(round(x)), int(round(y))), 1 if dense else thick + 1,
                           (0, 255, 255) if dense else colours[k % len(colours)], -1)
    return out


def _summary(command: str, n_files: int, n_faces: int, n_errors: int, extra: str = "") -> None:
    print(f"sdk {command}: {n_files} files, {n_faces} faces, {n_errors} errors{extra}", file=sys.stderr)


def pick_face(faces: Sequence[Any], how: str, need: str = "embedding") -> Any:
    """The face an image stands for: the ``largest`` box or the ``best`` score among faces whose
    ``need`` field (``embedding`` or ``crop``) is filled in; ``None`` if there is none."""
    import numpy as np

    usable = [f for f in faces if getattr(f, need) is not None]
    if not usable:
        return None
    if how == "best":
        return max(usable, key=lambda f: f.score)
    return max(usable, key=lambda f: float(np.prod(np.asarray(f.box[2:]) - np.asarray(f.box[:2]))))


def _unit(vector: Any) -> Any:
    import numpy as np

    v = np.asarray(vector, dtype=np.float64)
    return v / max(1e-12, float(np.linalg.norm(v)))


def _threshold_note(setup: SdkSetup) -> str:
    value, _, description = setup.threshold()
    return f"threshold {value:g}, {description}"


# -- commands ------------------------------------------------------------------------------------
def cmd_detect(args: argparse.Namespace) -> int:
    from ..data.image import write_image

    setup = SdkSetup(args.config, args.set)
    files, folder = collect_files(args.paths)
    if args.annotate:
        Path(args.annotate).mkdir(parents=True, exist_ok=True)
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    used: set[str] = set()
    n_faces = n_err = 0
    try:
        for it in process(setup, files, command="detect", progress=folder or len(files) > 1):
            if it.error:
                n_err += 1
                row: dict[str, Any] = {"file": str(it.path), "error": it.error}
            else:
                n_faces += len(it.faces)
                row = {"file": str(it.path), "width": int(it.image.shape[1]), "height": int(it.image.shape[0]),
                       "faces": [face_json(f) for f in it.faces]}
                if args.annotate:
                    target = Path(args.annotate) / f"{_unique(it.path.stem, used)}.jpg"
                    write_image(target, annotate(it.image, it.faces))
                    row["annotated"] = str(target)
            out.write(json.dumps(row) + "\n")
            out.flush()
    finally:
        if out is not sys.stdout:
            out.close()
    _summary("detect", len(files), n_faces, n_err, f" -> {args.out}" if args.out else "")
    return 0


def cmd_align(args: argparse.Namespace) -> int:
    from ..data.image import write_image

    setup = SdkSetup(args.config, args.set)
    files, folder = collect_files(args.paths)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    n_faces = n_err = 0
    for it in process(setup, files, align=True, command="align", progress=folder or len(files) > 1):
        if it.error:
            n_err += 1
            print(json.dumps({"file": str(it.path), "error": it.error}), flush=True)
            continue
        stem = _unique(it.path.stem, used)
        crops = []
        for i, face in enumerate(it.faces):
            if face.crop is None:
                continue
            target = out_dir / f"{stem}_{i}.jpg"
            write_image(target, face.crop)
            crops.append(str(target))
        n_faces += len(crops)
        print(json.dumps({"file": str(it.path), "faces": len(it.faces), "crops": crops}), flush=True)
    _summary("align", len(files), n_faces, n_err, f" -> {out_dir}")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    import numpy as np

    setup = SdkSetup(args.config, args.set)
    files, folder = collect_files(args.paths)
    names: list[str] = []
    index: list[int] = []
    boxes: list[Any] = []
    scores: list[float] = []
    embeddings: list[Any] = []
    errors: list[str] = []
    for it in process(setup, files, embed=True, command="embed", progress=folder or len(files) > 1):
        if it.error:
            errors.append(str(it.path))
            print(json.dumps({"file": str(it.path), "error": it.error}), flush=True)
            continue
        kept = 0
        for i, face in enumerate(it.faces):
            if face.embedding is None:
                continue
            names.append(str(it.path))
            index.append(i)
            boxes.append(np.asarray(face.box, dtype=np.float32))
            scores.append(float(face.score))
            embeddings.append(np.asarray(face.embedding, dtype=np.float32))
            kept += 1
        print(json.dumps({"file": str(it.path), "faces": len(it.faces), "embedded": kept}), flush=True)
    dim = embeddings[0].shape[0] if embeddings else 0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as fh:  # a file object: np.savez would otherwise append .npz to other names
        np.savez(fh, embeddings=np.stack(embeddings) if embeddings else np.zeros((0, dim), np.float32),
                 names=np.array(names, dtype=str), face_index=np.array(index, dtype=np.int64),
                 boxes=np.stack(boxes) if boxes else np.zeros((0, 4), np.float32),
                 scores=np.array(scores, dtype=np.float32), failed=np.array(errors, dtype=str))
    _summary("embed", len(files), len(names), len(errors), f" -> {out} ({len(names)}x{dim})")
    return 0


def _one_embedding(setup: SdkSetup, path: Path, command: str) -> tuple[Any, str | None]:
    (it,) = list(process(setup, [path], embed=True, command=command))
    if it.error:
        return None, it.error
    face = pick_face(it.faces, setup.settings.face)
    if face is None:
        return None, f"{path}: no face found" if not it.faces else f"{path}: no face could be aligned"
    return face.embedding, None


def cmd_compare(args: argparse.Namespace) -> int:
    import numpy as np

    setup = SdkSetup(args.config, args.set)
    embs = []
    for raw in (args.a, args.b):
        emb, error = _one_embedding(setup, Path(raw), "compare")
        if error:
            if args.json:
                print(json.dumps({"file": raw, "error": error}))
            print(f"facex-core sdk compare: {error}", file=sys.stderr)
            return 1
        embs.append(_unit(emb))
    sim = float(np.dot(embs[0], embs[1]))
    threshold, source, description = setup.threshold()
    same = sim >= threshold
    if args.json:
        print(json.dumps({"a": args.a, "b": args.b, "similarity": round(sim, 6), "threshold": threshold,
                          "same": same, "threshold_source": source, "threshold_from": description,
                          "threshold_from_config": source == "config",
                          "pipeline": {k: setup.names.get(k) for k in STAGES}}))
    else:
        print(f"similarity {sim:.4f}")
        print(f"decision: {'same person' if same else 'different people'} ({_threshold_note(setup)})")
    return 0


class Gallery:
    """Identities of a folder (one sub-folder of images each), each the normalised mean embedding."""

    def __init__(self, setup: SdkSetup, folder: str, command: str) -> None:
        import numpy as np

        from ..errors import ConfigError

        root = Path(folder)
        if not root.is_dir():
            raise ConfigError(f"{root}: gallery folder not found (one sub-folder of images per identity)")
        identities = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not identities:
            raise ConfigError(f"{root}: no identity sub-folders (one sub-folder of images per identity)")
        files: list[Path] = []
        owner: list[int] = []
        for k, ident in enumerate(identities):
            found, _ = collect_files([str(ident)])
            files.extend(found)
            owner.extend([k] * len(found))
        sums: dict[int, Any] = {}
        counts: dict[int, int] = {}
        self.skipped = 0
        for it, k in zip(process(setup, files, embed=True, command=f"{command} gallery",
                                 progress=len(files) > 1), owner):
            face = None if it.error else pick_face(it.faces, setup.settings.face)
            if face is None:
                self.skipped += 1
                print(json.dumps({"file": str(it.path), "error": it.error or f"{it.path}: no face found"}),
                      file=sys.stderr)
                continue
            sums[k] = sums.get(k, 0) + _unit(face.embedding)
            counts[k] = counts.get(k, 0) + 1
        for k, ident in enumerate(identities):
            if k not in sums:
                print(f"facex-core sdk {command}: warning: {ident.name}: no usable face, left out of the gallery",
                      file=sys.stderr)
        if not sums:
            raise ConfigError(f"{root}: no usable gallery face")
        keys = sorted(sums)
        self.root = root
        self.names = [identities[k].name for k in keys]
        self.counts = [counts[k] for k in keys]
        self.matrix = np.stack([_unit(sums[k]) for k in keys])

    def scores(self, embedding: Any) -> Any:
        """Cosine similarity of ``embedding`` to every identity."""
        return self.matrix @ _unit(embedding)


def cmd_search(args: argparse.Namespace) -> int:
    import numpy as np

    setup = SdkSetup(args.config, args.set)
    gallery = Gallery(setup, args.gallery, "search")
    emb, error = _one_embedding(setup, Path(args.probe), "search")
    if error:
        print(f"facex-core sdk search: {error}", file=sys.stderr)
        return 1
    scores = gallery.scores(emb)
    order = np.argsort(-scores, kind="stable")[: args.top if args.top > 0 else None]
    threshold, source, _ = setup.threshold()
    ranked = [{"rank": r + 1, "identity": gallery.names[i], "score": round(float(scores[i]), 6),
               "images": gallery.counts[i], "match": bool(scores[i] >= threshold)} for r, i in enumerate(order)]
    if args.json:
        print(json.dumps({"probe": args.probe, "threshold": threshold, "threshold_source": source,
                          "results": ranked}))
    else:
        print(f"probe {args.probe} against {len(gallery.names)} identities ({sum(gallery.counts)} images, "
              f"{gallery.skipped} skipped); match = score >= {_threshold_note(setup)}")
        for row in ranked:
            print(f"{row['rank']:>4}  {row['score']:.4f}  {'match' if row['match'] else '-':5}  "
                  f"{row['identity']}  ({row['images']} images)")
    return 0


def cmd_annotate(args: argparse.Namespace) -> int:
    import numpy as np

    from ..data.image import write_image

    setup = SdkSetup(args.config, args.set)
    gallery = Gallery(setup, args.gallery, "annotate") if args.gallery else None
    threshold = setup.threshold()[0] if gallery is not None else None
    files, _ = collect_files(args.paths)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    n_faces = n_err = 0
    for it in process(setup, files, embed=gallery is not None, command="annotate", progress=True):
        if it.error:
            n_err += 1
            print(json.dumps({"file": str(it.path), "error": it.error}), flush=True)
            continue
        rows = [face_json(f) for f in it.faces]
        labels = None
        if gallery is not None:
            labels = []
            for face, row in zip(it.faces, rows):
                if face.embedding is None:
                    row.update(identity=None, similarity=None)
                    labels.append("?")
                    continue
                scores = gallery.scores(face.embedding)
                best = int(np.argmax(scores))
                known = bool(scores[best] >= threshold)
                row.update(identity=gallery.names[best] if known else None,
                           similarity=round(float(scores[best]), 4), nearest=gallery.names[best])
                labels.append(f"{gallery.names[best] if known else 'unknown'} {scores[best]:.2f}")
        target = out_dir / f"{_unique(it.path.stem, used)}.jpg"
        try:
            write_image(target, annotate(it.image, it.faces, labels))
        except Exception as exc:  # noqa: BLE001 - e.g. a full disk: this file's result, not the batch's
            n_err += 1
            print(json.dumps({"file": str(it.path), "error": f"{target}: cannot write ({exc})"}), flush=True)
            continue
        n_faces += len(it.faces)
        line: dict[str, Any] = {"file": str(it.path), "annotated": str(target), "faces": rows}
        if threshold is not None:
            line["threshold"] = threshold
        print(json.dumps(line), flush=True)
    _summary("annotate", len(files), n_faces, n_err, f" -> {out_dir}")
    return 0


# -- calibration ---------------------------------------------------------------------------------
def _is_int(text: str) -> bool:
    return text.lstrip("+-").isdigit()


def read_pairs(path: str, root: str | None = None, fmt: str = "auto") -> list[tuple[Path, Path, int]]:
    """Labelled image pairs ``(a, b, 1 same / 0 different)`` from a pairs file.

    ``simple``: one pair a line, ``image_a image_b same`` with ``same`` 1 or 0, paths relative to
    ``root`` (default: the file's folder; quote paths with spaces; ``#`` starts a comment).
    ``lfw``: LFW's ``pairs.txt``, an optional header line of numbers, then ``name i j`` (same person)
    or ``name1 i name2 j`` (different people) for ``root/name/name_000i.jpg``. ``auto`` picks ``lfw``
    when the first line is all numbers or the second field of a line is a number.
    """
    import shlex

    from ..errors import ConfigError

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the pairs file ({exc.strerror or exc})") from None
    base = Path(root) if root else file.parent
    lines = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        try:
            tokens = shlex.split(raw, comments=True)
        except ValueError as exc:
            raise ConfigError(f"{file}:{lineno}: {exc}") from None
        if tokens:
            lines.append((lineno, tokens))
    if not lines:
        raise ConfigError(f"{file}: no pairs")
    if fmt == "auto":
        first = lines[0][1]
        fmt = "lfw" if all(map(_is_int, first)) or (len(first) in (3, 4) and _is_int(first[1])) else "simple"
    if fmt == "lfw" and all(map(_is_int, lines[0][1])):
        lines = lines[1:]  # "10 300": folds and pairs per fold

    def lfw_image(name: str, number: str) -> Path:
        return base / name / f"{name}_{int(number):04d}.jpg"

    pairs = []
    for lineno, tokens in lines:
        if fmt == "simple" and len(tokens) == 3 and tokens[2] in ("0", "1"):
            pairs.append((base / tokens[0], base / tokens[1], int(tokens[2])))
        elif fmt == "lfw" and len(tokens) == 3 and _is_int(tokens[1]) and _is_int(tokens[2]):
            pairs.append((lfw_image(tokens[0], tokens[1]), lfw_image(tokens[0], tokens[2]), 1))
        elif fmt == "lfw" and len(tokens) == 4 and _is_int(tokens[1]) and _is_int(tokens[3]):
            pairs.append((lfw_image(tokens[0], tokens[1]), lfw_image(tokens[2], tokens[3]), 0))
        else:
            expected = "'image_a image_b 1|0'" if fmt == "simple" else "'name i j' or 'name1 i name2 j'"
            raise ConfigError(f"{file}:{lineno}: expected {expected} ({fmt} format), got {' '.join(tokens)!r}")
    return pairs


def threshold_at_far(scores: Any, labels: Any, far: float) -> dict[str, float]:
    """The decision threshold for ``similarity >= threshold`` with the highest TAR whose FAR is at most
    ``far`` on these pairs, and the FAR, TAR and EER there.

    The threshold is the lowest accepted score of that ROC operating point (``facex_core.roc_curve``),
    so the rule accepts exactly the pairs the point counts; a target below one negative pair gives
    a threshold just above the highest score (nothing accepted).
    """
    import numpy as np

    from ..metrics.verification import eer, roc_curve, tar_at_far

    fpr, tpr, thresholds = roc_curve(scores, labels)
    i = int(np.searchsorted(fpr, far, side="right") - 1)
    # ROC point i accepts `score > thresholds[i]`; for i >= 1 that is `score >= thresholds[i - 1]`
    threshold = float(np.nextafter(thresholds[0], np.inf)) if i == 0 else float(thresholds[i - 1])
    tar = tar_at_far(scores, labels, [far])[float(far)]
    return {"threshold": threshold, "far": float(fpr[i]), "tar": float(tar), "eer": float(eer(scores, labels))}


def cmd_calibrate(args: argparse.Namespace) -> int:
    import datetime

    import numpy as np

    from ..errors import ConfigError
    from ..metrics.verification import pair_scores
    from ..version import __version__

    if not 0 <= args.far <= 1:
        raise ConfigError(f"--far: expected a false accept rate in [0, 1], got {args.far}")
    setup = SdkSetup(args.config, args.set)
    pairs = read_pairs(args.pairs, args.root, args.format)
    files = sorted({p for a, b, _ in pairs for p in (a, b)})
    setup.stage("recognizer", "calibrate")
    features: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for it in process(setup, files, embed=True, command="calibrate", progress=True):
        face = None if it.error else pick_face(it.faces, setup.settings.face)
        if face is None:
            problems[str(it.path)] = it.error or f"{it.path}: no face found"
            continue
        features[str(it.path)] = _unit(face.embedding)
    for message in problems.values():
        print(json.dumps({"error": message}), file=sys.stderr)
    kept = [(str(a), str(b), y) for a, b, y in pairs if str(a) in features and str(b) in features]
    labels = np.array([y for _, _, y in kept], dtype=np.int64)
    n_pos, n_neg = int(labels.sum()), int(len(labels) - labels.sum())
    if n_pos == 0 or n_neg == 0:
        raise ConfigError(f"{args.pairs}: {n_pos} same-person and {n_neg} different-person pairs usable "
                          f"({len(pairs) - len(kept)} dropped for images without a face): both are needed")
    scores = pair_scores(features, [a for a, _, _ in kept], [b for _, b, _ in kept])
    result = threshold_at_far(scores, labels, args.far)
    if args.far * n_neg < 1:
        print(f"facex-core sdk calibrate: warning: {n_neg} different-person pairs cannot measure FAR "
              f"{args.far:g} (needs at least {int(np.ceil(1 / args.far)) if args.far > 0 else 'infinitely many'}; "
              f"ten times that for a stable threshold)", file=sys.stderr)
    record = {"format": CALIBRATION_FORMAT, "version": 1, **result, "far_target": args.far,
              "pairs": {"file": str(Path(args.pairs).resolve()), "positive": n_pos, "negative": n_neg,
                        "dropped": len(pairs) - len(kept), "images_without_face": len(problems)},
              "recognizer": setup.recognizer_identity(),
              "pipeline": {**{k: setup.tables.get(k, {"name": setup.names.get(k)}) for k in STAGES},
                           "face": setup.settings.face, "scene": setup.settings.scene},
              "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "facex_core": __version__}
    target = _calibration_target(setup, args.out)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps({**result, "far_target": args.far, "positive": n_pos, "negative": n_neg,
                          "dropped": len(pairs) - len(kept), "record": str(target)}))
    else:
        print(f"threshold {result['threshold']:.6f}  (cosine similarity; same person when >=)")
        print(f"at target FAR {args.far:g}: FAR {result['far']:.6f}, TAR {result['tar']:.6f}; "
              f"EER {result['eer']:.6f}")
        print(f"pairs: {n_pos} same-person, {n_neg} different-person, {len(pairs) - len(kept)} dropped "
              f"({len(problems)} images without a usable face)")
        print(f"record: {target}")
    if args.out and calibration_beside(setup.stage("recognizer")) != target:
        print(f"facex-core sdk calibrate: use it with [sdk] calibration = {json.dumps(str(target))} "
              f"(or --set sdk.calibration={target})", file=sys.stderr)
    return 0


def _calibration_target(setup: SdkSetup, out: str | None) -> Path:
    """``--out``, else beside the recognizer's model file when that folder is the user's and writable."""
    from ..errors import ConfigError

    if out:
        return Path(out)
    beside = calibration_beside(setup.stage("recognizer"))
    if beside is not None and not _installed_package_dir(beside.parent) and os.access(beside.parent, os.W_OK) \
            and (not beside.exists() or os.access(beside, os.W_OK)):
        return beside
    why = "has no model file" if beside is None else f"keeps its model in {beside.parent} (not writable or " \
                                                      "an installed package)"
    raise ConfigError(f"recognizer {setup.names['recognizer']} {why}: give --out FILE, then use it with "
                      f"[sdk] calibration = \"FILE\"")


# -- parser --------------------------------------------------------------------------------------
def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """``--config``, ``--set`` and ``--scene``, shared by the sdk commands and ``data align``."""
    p.add_argument("--config", help="SDK TOML: [detector], [landmarker], [aligner], [recognizer], [sdk]")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a config key (repeatable), e.g. --set detector.name=retinaface_mnet025")
    p.add_argument("--scene", choices=SCENES, action=_SceneAction, dest="set", default=argparse.SUPPRESS,
                   help="'masked': detector score threshold 0.4 for masked faces (same as --set sdk.scene=masked)")


class _SceneAction(argparse.Action):
    """``--scene X`` is ``--set sdk.scene=X``: one place decides what a scene changes."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        items = list(getattr(namespace, self.dest, None) or [])
        setattr(namespace, self.dest, [*items, f"sdk.scene={json.dumps(values)}"])


def add_sdk_commands(sub: Any) -> None:
    """Add ``sdk detect|align|embed|compare|search|annotate|calibrate`` to the ``facex-core`` subparsers."""
    sp = sub.add_parser("sdk", help="run the SDK stages: detect, align, embed, compare, search, annotate, "
                                    "calibrate",
                        description="Stages come from --config (TOML with [detector], [landmarker], [aligner], "
                                    "[recognizer], [sdk] tables) and --set; defaults (no download): detector "
                                    "mediapipe, landmarker mediapipe_mesh, aligner dlib_chip, recognizer "
                                    "dlib_resnet.")
    ssub = sp.add_subparsers(dest="sdk_command", required=True)

    p = ssub.add_parser("detect", help="faces per image as JSON lines (boxes, scores, landmarks)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (searched recursively)")
    add_config_arguments(p)
    p.add_argument("--out", help="write the JSON lines to this file instead of stdout")
    p.add_argument("--annotate", metavar="DIR", help="also write each image with boxes and landmarks drawn")
    p.set_defaults(func=cmd_detect)

    p = ssub.add_parser("align", help="aligned crops (<image stem>_<i>.jpg) of every face")
    p.add_argument("paths", nargs="+", metavar="PATH")
    add_config_arguments(p)
    p.add_argument("--out", required=True, metavar="DIR")
    p.set_defaults(func=cmd_align)

    p = ssub.add_parser("embed", help="embeddings of every face -> .npz (embeddings, names, boxes, ...)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    add_config_arguments(p)
    p.add_argument("--out", required=True, metavar="FILE.npz")
    p.set_defaults(func=cmd_embed)

    p = ssub.add_parser("compare", help="similarity of the main faces of two images and the decision")
    p.add_argument("a")
    p.add_argument("b")
    add_config_arguments(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_compare)

    p = ssub.add_parser("search", help="rank the identities of a gallery folder for a probe image")
    p.add_argument("gallery", metavar="GALLERY_DIR", help="one sub-folder of images per identity")
    p.add_argument("probe", metavar="PROBE")
    add_config_arguments(p)
    p.add_argument("--top", type=int, default=5, help="identities to print; 0 = all")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = ssub.add_parser("annotate", help="images with boxes, scores, landmarks (and gallery identities) drawn")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (searched recursively)")
    add_config_arguments(p)
    p.add_argument("--out", required=True, metavar="DIR", help="annotated images, DIR/<image stem>.jpg")
    p.add_argument("--gallery", metavar="DIR", help="name faces: one sub-folder of images per identity, "
                                                     "matched at the decision threshold")
    p.set_defaults(func=cmd_annotate)

    p = ssub.add_parser("calibrate", help="decision threshold for a target FAR from labelled pairs",
                        description="Embeds every image of the pairs with the configured pipeline, picks the "
                                    "threshold with the highest TAR at FAR <= --far, and writes a record "
                                    "beside the recognizer's model file (or --out) that the sdk commands use.")
    p.add_argument("pairs", metavar="PAIRS", help="'image_a image_b 1|0' lines, or LFW's pairs.txt")
    add_config_arguments(p)
    p.add_argument("--far", type=float, default=1e-3, help="target false accept rate (default 1e-3)")
    p.add_argument("--root", help="image folder the pairs' paths are relative to (default: the file's folder)")
    p.add_argument("--format", choices=("auto", "simple", "lfw"), default="auto")
    p.add_argument("--out", metavar="FILE.json", help="write the record here (then set [sdk] calibration)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_calibrate)
