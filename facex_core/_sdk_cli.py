"""``facex-core sdk``: detect, align, embed, compare and search from the command line.

The stages come from one optional TOML file (``--config sdk.toml``) plus ``--set`` overrides::

    [detector]            # default: retinaface_mnet025 (needs `weights`)
    name = "retinaface_mnet025"
    weights = "retinaface_mobilenet0.25.npz"
    [aligner]             # default: arcface_5pt
    name = "arcface_5pt"
    [recognizer]          # required by embed / compare / search
    name = "facex"
    checkpoint = "runs/demo/checkpoints/last.pt"
    [sdk]
    threshold = 0.35      # uncalibrated default: calibrate on your own pairs

Each stage table is validated by its component's config class (unknown or mistyped keys name the key
and the source). Batches never stop at a bad file: every input gets a result, ``{"file": ..., "error":
...}`` for unreadable or non-image files and ``"faces": []`` when no face is found. This module imports
only the standard library at import time (it is loaded whenever the parser is built).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

STAGES = ("detector", "landmarker", "aligner", "recognizer")
DEFAULT_NAMES = {"detector": "retinaface_mnet025", "aligner": "arcface_5pt"}
TABLES = (*STAGES, "sdk")
#: The documented default decision threshold; a placeholder until calibrated for the model in use.
DEFAULT_THRESHOLD = 0.35


def _sdk_config_class() -> type:
    from ._options import config, option

    @config
    class SdkConfig:
        """The ``[sdk]`` table: settings of the commands rather than of a stage."""

        threshold: float = option(DEFAULT_THRESHOLD,
                                  doc="cosine similarity at or above which two faces are called the same "
                                      "person; the default is NOT calibrated: measure it on pairs from "
                                      "your own data with your recognizer (e.g. the threshold at your "
                                      "target false-match rate)")
        face: str = option("largest", doc="which face of an image compare/search use: 'largest' (box area) "
                                          "or 'best' (detector score)")
        batch_size: int = option(8, doc="images read and run through the stages together")

    return SdkConfig


# -- configuration -------------------------------------------------------------------------------
class SdkSetup:
    """The resolved SDK config: raw tables, the ``[sdk]`` settings and lazily built stages."""

    def __init__(self, path: str | None, overrides: Sequence[str]) -> None:
        from ._config import apply_overrides, load_toml, structure
        from ._errors import ConfigError

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
        self.settings = structure(_sdk_config_class(), data.get("sdk", {}), path="sdk", source=self.source)
        if self.settings.face not in ("largest", "best"):
            raise ConfigError(f"{self.source}: sdk.face: expected 'largest' or 'best', got {self.settings.face!r}")
        if self.settings.batch_size < 1:
            raise ConfigError(f"{self.source}: sdk.batch_size: must be >= 1, got {self.settings.batch_size}")
        self._built: dict[str, Any] = {}

    def stage(self, kind: str, required_by: str | None = None) -> Any:
        """Build stage ``kind`` from its table (or its default); ``None`` if it has neither.

        With ``required_by`` a missing stage is a :class:`ConfigError` saying how to give one.
        """
        from ._build import build_from_table
        from ._errors import ConfigError, RegistryError

        if kind in self._built:
            return self._built[kind]
        table = dict(self.data.get(kind, {}))
        table.setdefault("name", DEFAULT_NAMES.get(kind))
        if table["name"] is None:
            if table.keys() - {"name"} or required_by:
                hint = ' e.g. name = "facex" and checkpoint = "runs/<name>/checkpoints/last.pt"' \
                    if kind == "recognizer" else ""
                raise ConfigError(f"{self.source}: {kind}.name: required{f' by `sdk {required_by}`' if required_by else ''}"
                                  f" (a [{kind}] table in --config, or --set {kind}.name=...;{hint})")
            self._built[kind] = None
            return None
        try:
            _, _, component = build_from_table(kind, table, path=kind, source=self.source)
        except (ConfigError, RegistryError):
            raise
        except (ValueError, OSError, ImportError, TypeError) as exc:  # e.g. missing weights or checkpoint
            raise ConfigError(f"{self.source}: [{kind}] {table['name']}: {exc}") from None
        self._built[kind] = component
        return component


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
    from ._data import ImageLoadError, load_image

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
    from ._progress import Progress

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


def annotate(image: Any, faces: Sequence[Any]) -> Any:
    """A copy of ``image`` with each face's box, score and landmarks drawn."""
    import cv2
    import numpy as np

    out = image.copy()
    thick = max(1, round(max(out.shape[:2]) / 400))
    colours = [(255, 0, 0), (0, 0, 255), (0, 255, 255), (255, 0, 255), (255, 255, 0)]
    for face in faces:
        x1, y1, x2, y2 = (int(round(v)) for v in np.asarray(face.box, dtype=np.float64))
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 255, 0), thick)
        cv2.putText(out, f"{face.score:.2f}", (x1, max(0, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4 * thick, (0, 255, 0), thick)
        if face.landmarks is not None:
            for k, (x, y) in enumerate(np.asarray(face.landmarks, dtype=np.float64).reshape(-1, 2)):
                cv2.circle(out, (int(round(x)), int(round(y))), thick + 1, colours[k % len(colours)], -1)
    return out


def _write_image(path: Path, image: Any) -> None:
    import cv2

    ok, buf = cv2.imencode(path.suffix, image)
    if not ok:
        raise OSError(f"{path}: could not encode the image")
    buf.tofile(str(path))  # like load_image: works with non-ASCII paths


def _summary(command: str, n_files: int, n_faces: int, n_errors: int, extra: str = "") -> None:
    print(f"sdk {command}: {n_files} files, {n_faces} faces, {n_errors} errors{extra}", file=sys.stderr)


def _pick(faces: Sequence[Any], how: str) -> Any:
    import numpy as np

    usable = [f for f in faces if f.embedding is not None]
    if not usable:
        return None
    if how == "best":
        return max(usable, key=lambda f: f.score)
    return max(usable, key=lambda f: float(np.prod(np.asarray(f.box[2:]) - np.asarray(f.box[:2]))))


# -- commands ------------------------------------------------------------------------------------
def cmd_detect(args: argparse.Namespace) -> int:
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
                    _write_image(target, annotate(it.image, it.faces))
                    row["annotated"] = str(target)
            out.write(json.dumps(row) + "\n")
            out.flush()
    finally:
        if out is not sys.stdout:
            out.close()
    _summary("detect", len(files), n_faces, n_err, f" -> {args.out}" if args.out else "")
    return 0


def cmd_align(args: argparse.Namespace) -> int:
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
            _write_image(target, face.crop)
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
    face = _pick(it.faces, setup.settings.face)
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
        embs.append(np.asarray(emb, dtype=np.float64))
    sim = float(np.dot(embs[0], embs[1]) / max(1e-12, np.linalg.norm(embs[0]) * np.linalg.norm(embs[1])))
    threshold = setup.settings.threshold
    same = sim >= threshold
    calibrated = "sdk" in setup.data and "threshold" in setup.data["sdk"]
    if args.json:
        print(json.dumps({"a": args.a, "b": args.b, "similarity": round(sim, 6), "threshold": threshold,
                          "same": same, "threshold_from_config": calibrated}))
    else:
        note = "" if calibrated else " - default, NOT calibrated: set [sdk] threshold for your model"
        print(f"similarity {sim:.4f}")
        print(f"decision: {'same person' if same else 'different people'} (threshold {threshold:g}{note})")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    import numpy as np

    from ._errors import ConfigError

    setup = SdkSetup(args.config, args.set)
    root = Path(args.gallery)
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
    n_err = 0
    for it, k in zip(process(setup, files, embed=True, command="search", progress=len(files) > 1), owner):
        face = None if it.error else _pick(it.faces, setup.settings.face)
        if face is None:
            n_err += 1
            error = it.error or f"{it.path}: no face found"
            print(json.dumps({"file": str(it.path), "error": error}), file=sys.stderr)
            continue
        sums[k] = sums.get(k, 0) + np.asarray(face.embedding, dtype=np.float64)
        counts[k] = counts.get(k, 0) + 1
    for k, ident in enumerate(identities):
        if k not in sums:
            print(f"facex-core sdk search: warning: {ident.name}: no usable face, left out of the gallery",
                  file=sys.stderr)
    if not sums:
        print(f"facex-core sdk search: {root}: no usable gallery face", file=sys.stderr)
        return 1
    keys = sorted(sums)
    gallery = np.stack([sums[k] / max(1e-12, np.linalg.norm(sums[k])) for k in keys])
    emb, error = _one_embedding(setup, Path(args.probe), "search")
    if error:
        print(f"facex-core sdk search: {error}", file=sys.stderr)
        return 1
    probe = np.asarray(emb, dtype=np.float64)
    probe = probe / max(1e-12, np.linalg.norm(probe))
    scores = gallery @ probe
    order = np.argsort(-scores, kind="stable")[: args.top if args.top > 0 else None]
    threshold = setup.settings.threshold
    ranked = [{"rank": r + 1, "identity": identities[keys[i]].name, "score": round(float(scores[i]), 6),
               "images": counts[keys[i]], "match": bool(scores[i] >= threshold)} for r, i in enumerate(order)]
    if args.json:
        print(json.dumps({"probe": args.probe, "threshold": threshold, "results": ranked}))
    else:
        print(f"probe {args.probe} against {len(keys)} identities ({sum(counts.values())} images, "
              f"{n_err} skipped); match = score >= {threshold:g}")
        for row in ranked:
            print(f"{row['rank']:>4}  {row['score']:.4f}  {'match' if row['match'] else '-':5}  "
                  f"{row['identity']}  ({row['images']} images)")
    return 0


# -- parser --------------------------------------------------------------------------------------
def add_sdk_commands(sub: Any) -> None:
    """Add ``sdk detect|align|embed|compare|search`` to the ``facex-core`` subparsers ``sub``."""
    sp = sub.add_parser("sdk", help="run the SDK stages: detect, align, embed, compare, search",
                        description="Stages come from --config (TOML with [detector], [aligner], "
                                    "[recognizer], [sdk] tables) and --set; defaults: detector "
                                    "retinaface_mnet025 (set detector.weights), aligner arcface_5pt.")
    ssub = sp.add_subparsers(dest="sdk_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", help="SDK TOML: [detector], [landmarker], [aligner], [recognizer], [sdk]")
        p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                       help="override a config key (repeatable), e.g. --set detector.weights=retina.npz")

    p = ssub.add_parser("detect", help="faces per image as JSON lines (boxes, scores, landmarks)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (searched recursively)")
    common(p)
    p.add_argument("--out", help="write the JSON lines to this file instead of stdout")
    p.add_argument("--annotate", metavar="DIR", help="also write each image with boxes and landmarks drawn")
    p.set_defaults(func=cmd_detect)

    p = ssub.add_parser("align", help="aligned crops (<image stem>_<i>.jpg) of every face")
    p.add_argument("paths", nargs="+", metavar="PATH")
    common(p)
    p.add_argument("--out", required=True, metavar="DIR")
    p.set_defaults(func=cmd_align)

    p = ssub.add_parser("embed", help="embeddings of every face -> .npz (embeddings, names, boxes, ...)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    common(p)
    p.add_argument("--out", required=True, metavar="FILE.npz")
    p.set_defaults(func=cmd_embed)

    p = ssub.add_parser("compare", help="similarity of the main faces of two images and the decision")
    p.add_argument("a")
    p.add_argument("b")
    common(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_compare)

    p = ssub.add_parser("search", help="rank the identities of a gallery folder for a probe image")
    p.add_argument("gallery", metavar="GALLERY_DIR", help="one sub-folder of images per identity")
    p.add_argument("probe", metavar="PROBE")
    common(p)
    p.add_argument("--top", type=int, default=5, help="identities to print; 0 = all")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)
