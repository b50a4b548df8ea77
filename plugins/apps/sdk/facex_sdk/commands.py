"""``facex-core sdk detect|align|embed|compare|search|annotate``: the SDK stages on image and video files.

Every command is a thin user of :class:`facex_sdk.FaceAnalyzer`: it takes the SDK config
(``--config``/``--set``/``--scene``, :mod:`facex_sdk.config`), runs its files through the pipeline in
batches (:meth:`FaceAnalyzer.process`) and gives every input a result: ``{"file": ..., "error": ...}``
for unreadable or non-image files, ``"faces": []`` when no face is found; a summary line goes to
stderr. The ``setup_*`` functions are loaded when the command is chosen; images and models load when
it runs (numpy, never torch or cv2, at import).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from facex_core import DataError, NonFiniteError

from .analyzer import FaceAnalyzer
from .config import STAGES, add_aligned_option, add_config_arguments, positive_int
from .gallery import Gallery
from .inputs import collect_files
from .outputs import annotate, face_json, identity_rows, summary, unique_stem


def analyzer_of(args: argparse.Namespace) -> FaceAnalyzer:
    """The :class:`FaceAnalyzer` of a command's ``--config``/``--set``/``--scene``."""
    return FaceAnalyzer(args.config, overrides=args.set)


def embedded_crops(analyzer: FaceAnalyzer, files: list[Path]) -> Any:
    """One result per file for ``--aligned`` inputs: the whole image is the face's crop
    (:meth:`FaceAnalyzer.process_crops`)."""
    return analyzer.process_crops(files)


def threshold_note(analyzer: FaceAnalyzer, aligned: bool = False) -> str:
    value, _, description = analyzer.decision_threshold(aligned=aligned)
    return f"threshold {value:g}, {description}"


def open_gallery(analyzer: FaceAnalyzer, path: str, command: str, aligned: bool = False) -> Gallery:
    """A gallery file (search-time ``[gallery]`` settings applied), or a folder of identity
    sub-folders embedded now (``aligned``: their images are aligned crops)."""
    from facex_core import structure_config

    from .config import GalleryConfig

    if Path(path).is_dir():
        return analyzer.build_gallery(path, command=command, aligned=aligned)
    gallery = Gallery.load(path)
    given = analyzer.setup.data.get("gallery", {})
    if given:
        structure_config(GalleryConfig, given, path="gallery", source=analyzer.setup.source)  # types and ranges
        gallery.tune(**given)
    return gallery


# -- detect --------------------------------------------------------------------------------------
def setup_detect(p: argparse.ArgumentParser) -> None:
    """Arguments of ``sdk detect``."""
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (searched recursively)")
    add_config_arguments(p)
    p.add_argument("--out", help="write the JSON lines to this file instead of stdout")
    p.add_argument("--annotate", metavar="DIR", help="also write each image with boxes and landmarks drawn")
    p.set_defaults(func=run_detect)


def run_detect(args: argparse.Namespace) -> int:
    """Faces of every input as JSON lines (to ``--out`` or stdout), optionally drawn into ``--annotate``."""
    from facex_core import write_image

    analyzer = analyzer_of(args)
    files, folder = collect_files(args.paths)
    if args.annotate:
        Path(args.annotate).mkdir(parents=True, exist_ok=True)
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    used: set[str] = set()
    n_faces = n_err = 0
    try:
        for it in analyzer.process(files, command="detect", progress=folder or len(files) > 1):
            if it.error:
                n_err += 1
                row: dict[str, Any] = {"file": str(it.path), "error": it.error}
            else:
                n_faces += len(it.faces)
                row = {"file": str(it.path), "width": int(it.image.shape[1]), "height": int(it.image.shape[0]),
                       "faces": [face_json(f) for f in it.faces]}
                if args.annotate:
                    target = Path(args.annotate) / f"{unique_stem(it.path.stem, used)}.jpg"
                    write_image(target, annotate(it.image, it.faces))
                    row["annotated"] = str(target)
            out.write(json.dumps(row) + "\n")
            out.flush()
    finally:
        if out is not sys.stdout:
            out.close()
    return summary("detect", len(files), n_faces, n_err, f" -> {args.out}" if args.out else "")


# -- align ---------------------------------------------------------------------------------------
def setup_align(p: argparse.ArgumentParser) -> None:
    """Arguments of ``sdk align``."""
    p.add_argument("paths", nargs="+", metavar="PATH")
    add_config_arguments(p)
    p.add_argument("--out", required=True, metavar="DIR")
    p.set_defaults(func=run_align)


def run_align(args: argparse.Namespace) -> int:
    """Every face's aligned crop into ``--out``; one JSON line per input names the crops."""
    from facex_core import write_image

    analyzer = analyzer_of(args)
    files, folder = collect_files(args.paths)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    n_faces = n_err = 0
    for it in analyzer.process(files, align=True, command="align", progress=folder or len(files) > 1):
        if it.error:
            n_err += 1
            print(json.dumps({"file": str(it.path), "error": it.error}), flush=True)
            continue
        stem = unique_stem(it.path.stem, used)
        crops = []
        for i, face in enumerate(it.faces):
            if face.crop is None:
                continue
            target = out_dir / f"{stem}_{i}.jpg"
            write_image(target, face.crop)
            crops.append(str(target))
        n_faces += len(crops)
        print(json.dumps({"file": str(it.path), "faces": len(it.faces), "crops": crops}), flush=True)
    return summary("align", len(files), n_faces, n_err, f" -> {out_dir}")


# -- embed ---------------------------------------------------------------------------------------
def setup_embed(p: argparse.ArgumentParser) -> None:
    """Arguments of ``sdk embed``."""
    p.add_argument("paths", nargs="+", metavar="PATH")
    add_config_arguments(p)
    p.add_argument("--out", required=True, metavar="FILE.npz")
    add_aligned_option(p)
    p.set_defaults(func=run_embed)


def run_embed(args: argparse.Namespace) -> int:
    """Every face's embedding into one ``.npz`` (with names, face index, boxes, scores, failed files and
    the pipeline's identity, which ``sdk gallery build`` checks)."""
    import numpy as np

    from facex_core import atomic_output

    analyzer = analyzer_of(args)
    files, folder = collect_files(args.paths)
    names: list[str] = []
    index: list[int] = []
    boxes: list[Any] = []
    scores: list[float] = []
    embeddings: list[Any] = []
    errors: list[str] = []
    items = (embedded_crops(analyzer, files) if args.aligned else
             analyzer.process(files, embed=True, command="embed", progress=folder or len(files) > 1))
    for it in items:
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
    if len(errors) >= len(files):  # nothing embedded: an earlier good .npz is never replaced by an empty one
        return summary("embed", len(files), 0, len(errors), f"; {out} not written")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out) as fh:  # a file object: np.savez would otherwise append .npz to other names
        np.savez(fh, embeddings=np.stack(embeddings) if embeddings else np.zeros((0, dim), np.float32),
                 names=np.array(names, dtype=str), face_index=np.array(index, dtype=np.int64),
                 boxes=np.stack(boxes) if boxes else np.zeros((0, 4), np.float32),
                 scores=np.array(scores, dtype=np.float32), failed=np.array(errors, dtype=str),
                 pipeline=np.array(json.dumps(analyzer.identity(aligned=args.aligned))))
    return summary("embed", len(files), len(names), len(errors), f" -> {out} ({len(names)}x{dim})")


# -- compare -------------------------------------------------------------------------------------
def setup_compare(p: argparse.ArgumentParser) -> None:
    """Arguments of ``sdk compare``."""
    p.add_argument("a")
    p.add_argument("b")
    add_config_arguments(p)
    p.add_argument("--json", action="store_true")
    add_aligned_option(p)
    p.set_defaults(func=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    """Similarity of the faces two images stand for, and the decision at the threshold; exit 1 if one has none."""
    analyzer = analyzer_of(args)
    try:
        result = analyzer.compare(args.a, args.b, aligned=args.aligned)
    except (DataError, NonFiniteError) as exc:  # an image without a usable face: an answer, not a usage error
        if args.json:
            print(json.dumps({"error": str(exc)}))
        print(f"facex-core sdk compare: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"a": args.a, "b": args.b, "similarity": round(result.similarity, 6),
                          "threshold": result.threshold, "same": result.same,
                          "threshold_source": result.threshold_source, "threshold_from": result.threshold_from,
                          "threshold_from_config": result.threshold_source == "config",
                          "pipeline": {k: analyzer.stages.get(k) for k in STAGES}}))
    else:
        print(f"similarity {result.similarity:.4f}")
        print(f"decision: {'same person' if result.same else 'different people'} "
              f"({threshold_note(analyzer, args.aligned)})")
    return 0


# -- search --------------------------------------------------------------------------------------
def setup_search(p: argparse.ArgumentParser) -> None:
    """Arguments of ``sdk search``."""
    p.add_argument("gallery", metavar="GALLERY", help="a gallery file (sdk gallery build), or a folder with "
                                                      "one sub-folder of images per identity")
    p.add_argument("probes", nargs="+", metavar="PROBE", help="probe images")
    add_config_arguments(p)
    top = p.add_mutually_exclusive_group()
    top.add_argument("--top", type=positive_int, default=5, help="identities to print per probe (default 5)")
    top.add_argument("--all", action="store_true", help="print every identity")
    p.add_argument("--json", action="store_true", help="one JSON object per probe")
    add_aligned_option(p, "the probes (and a GALLERY folder's images)")
    p.set_defaults(func=run_search)


def run_search(args: argparse.Namespace) -> int:
    """Each probe's face ranked against the gallery's identities; exit 1 if no probe has a face."""
    analyzer = analyzer_of(args)
    gallery = open_gallery(analyzer, args.gallery, "search", args.aligned)
    gallery.check_pipeline(analyzer.identity(aligned=args.aligned))
    threshold = analyzer.decision_threshold(aligned=args.aligned)
    failed = 0
    for probe in args.probes:
        try:
            matches = analyzer.search(gallery, probe, top=len(gallery) if args.all else args.top,
                                      aligned=args.aligned)
        except (DataError, NonFiniteError) as exc:
            failed += 1
            if args.json:
                print(json.dumps({"probe": probe, "error": str(exc)}), flush=True)
            print(f"facex-core sdk search: {exc}", file=sys.stderr)
            continue
        ranked = [{"rank": m.rank, "identity": m.identity, "score": round(m.score, 6), "images": m.images,
                   "match": m.match} for m in matches]
        if args.json:
            print(json.dumps({"probe": probe, "threshold": threshold.value, "threshold_source": threshold.source,
                              "results": ranked}), flush=True)
            continue
        print(f"probe {probe} against {len(gallery)} identities ({int(gallery.counts.sum())} faces); "
              f"match = score >= {threshold_note(analyzer, args.aligned)}")
        for row in ranked:
            print(f"{row['rank']:>4}  {row['score']:.4f}  {'match' if row['match'] else '-':5}  "
                  f"{row['identity']}  ({row['images']} images)")
    return 1 if failed == len(args.probes) else 0


# -- annotate ------------------------------------------------------------------------------------
def setup_annotate(p: argparse.ArgumentParser) -> None:
    """Arguments of ``sdk annotate``."""
    p.add_argument("paths", nargs="+", metavar="PATH", help="image or video files, or folders (searched recursively)")
    add_config_arguments(p)
    p.add_argument("--out", required=True, metavar="DIR", help="annotated images DIR/<stem>.jpg, videos "
                                                                "DIR/<stem>.mp4 (.avi for .avi inputs)")
    p.add_argument("--gallery", metavar="GALLERY", help="name faces: a gallery file (sdk gallery build) or a folder "
                                                         "with one sub-folder of images per identity, matched at "
                                                         "the decision threshold")
    p.add_argument("--every", type=positive_int, default=1, metavar="N",
                   help="videos: run the stages on every N-th frame (the others keep the last faces; default 1)")
    p.set_defaults(func=run_annotate)


def run_annotate(args: argparse.Namespace) -> int:
    """Every input drawn with its faces (and, with ``--gallery``, their identities) into ``--out``;
    videos frame by frame, one JSON line per frame."""
    from .video import is_video

    analyzer = analyzer_of(args)
    gallery = open_gallery(analyzer, args.gallery, "annotate") if args.gallery else None
    threshold = analyzer.threshold.value if gallery is not None else None
    files, _ = collect_files(args.paths)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    images = [f for f in files if not is_video(f)]
    counts = [0, 0]  # faces, errors
    for video in (f for f in files if is_video(f)):
        _annotate_video(analyzer, video, out_dir, used, gallery, args.every, threshold, counts)
    for it in analyzer.process(images, embed=gallery is not None, command="annotate", progress=bool(images)):
        if it.error:
            counts[1] += 1
            print(json.dumps({"file": str(it.path), "error": it.error}), flush=True)
            continue
        rows, labels = identity_rows(it.faces, analyzer.identify(gallery, it.faces) if gallery is not None else None)
        target = out_dir / f"{unique_stem(it.path.stem, used)}.jpg"
        try:
            from facex_core import write_image

            write_image(target, annotate(it.image, it.faces, labels))
        except Exception as exc:  # noqa: BLE001 - e.g. a full disk: this file's result, not the batch's
            counts[1] += 1
            print(json.dumps({"file": str(it.path), "error": f"{target}: cannot write ({exc})"}), flush=True)
            continue
        counts[0] += len(it.faces)
        line: dict[str, Any] = {"file": str(it.path), "annotated": str(target), "faces": rows}
        if threshold is not None:
            line["threshold"] = threshold
        print(json.dumps(line), flush=True)
    return summary("annotate", len(files), counts[0], counts[1], f" -> {out_dir}")


def _annotate_video(analyzer: FaceAnalyzer, path: Path, out_dir: Path, used: set[str], gallery: Gallery | None,
                    every: int, threshold: float | None, counts: list[int]) -> None:
    """One video drawn frame by frame into ``out_dir``; a JSON line per frame (``processed``: whether
    the stages ran on it); an unreadable video is one error line."""
    suffix = ".avi" if path.suffix.lower() == ".avi" else ".mp4"
    target = out_dir / f"{unique_stem(path.stem, used)}{suffix}"
    try:
        stream = analyzer.video(path, every=every, gallery=gallery)
        written = 0
        for frame in stream.annotate(target, progress=True):
            rows, _ = identity_rows(frame.faces, frame.matches)
            line: dict[str, Any] = {"file": str(path), "frame": frame.index, "time": round(frame.time, 3),
                                    "processed": frame.processed, "annotated": str(target), "faces": rows}
            if frame.error:
                line["error"] = frame.error
            if threshold is not None:
                line["threshold"] = threshold
            print(json.dumps(line), flush=True)
            counts[0] += len(frame.faces) if frame.processed else 0
            written += 1
        if not written:
            raise DataError(f"{path}: no frame could be read")
    except DataError as exc:
        counts[1] += 1
        print(json.dumps({"file": str(path), "error": str(exc)}), flush=True)
