"""``facex-core sdk detect|align|embed|compare|search|annotate``: the SDK stages on image files.

Every command takes the SDK config (``--config``/``--set``/``--scene``, :mod:`facex_sdk.config`), runs
its files through the pipeline in batches (:func:`facex_sdk.inputs.process`) and gives every input a
result: ``{"file": ..., "error": ...}`` for unreadable or non-image files, ``"faces": []`` when no
face is found; a summary line goes to stderr. Module level imports only light modules (the
``setup_*`` functions are loaded when the command is chosen); images and models load when it runs.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .config import STAGES, add_config_arguments, positive_int
from .embeddings import Gallery, one_embedding, unit
from .inputs import collect_files, process
from .outputs import annotate, face_json, summary, unique_stem
from .pipeline import SdkSetup


def _threshold_note(setup: SdkSetup) -> str:
    value, _, description = setup.threshold()
    return f"threshold {value:g}, {description}"


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
    p.set_defaults(func=run_embed)


def run_embed(args: argparse.Namespace) -> int:
    """Every face's embedding into one ``.npz`` (with names, face index, boxes, scores, failed files)."""
    import numpy as np

    from facex_core import atomic_output

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
    if len(errors) >= len(files):  # nothing embedded: an earlier good .npz is never replaced by an empty one
        return summary("embed", len(files), 0, len(errors), f"; {out} not written")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out) as fh:  # a file object: np.savez would otherwise append .npz to other names
        np.savez(fh, embeddings=np.stack(embeddings) if embeddings else np.zeros((0, dim), np.float32),
                 names=np.array(names, dtype=str), face_index=np.array(index, dtype=np.int64),
                 boxes=np.stack(boxes) if boxes else np.zeros((0, 4), np.float32),
                 scores=np.array(scores, dtype=np.float32), failed=np.array(errors, dtype=str))
    return summary("embed", len(files), len(names), len(errors), f" -> {out} ({len(names)}x{dim})")


# -- compare -------------------------------------------------------------------------------------
def setup_compare(p: argparse.ArgumentParser) -> None:
    """Arguments of ``sdk compare``."""
    p.add_argument("a")
    p.add_argument("b")
    add_config_arguments(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    """Similarity of the faces two images stand for, and the decision at the threshold; exit 1 if one has none."""
    import numpy as np

    setup = SdkSetup(args.config, args.set)
    embs = []
    for raw in (args.a, args.b):
        emb, error = one_embedding(setup, Path(raw), "compare")
        if error:
            if args.json:
                print(json.dumps({"file": raw, "error": error}))
            print(f"facex-core sdk compare: {error}", file=sys.stderr)
            return 1
        embs.append(unit(emb))
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


# -- search --------------------------------------------------------------------------------------
def setup_search(p: argparse.ArgumentParser) -> None:
    """Arguments of ``sdk search``."""
    p.add_argument("gallery", metavar="GALLERY_DIR", help="one sub-folder of images per identity")
    p.add_argument("probe", metavar="PROBE")
    add_config_arguments(p)
    top = p.add_mutually_exclusive_group()
    top.add_argument("--top", type=positive_int, default=5, help="identities to print (default 5)")
    top.add_argument("--all", action="store_true", help="print every identity")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_search)


def run_search(args: argparse.Namespace) -> int:
    """A probe's face ranked against the gallery's identities; exit 1 if the probe has no face."""
    import numpy as np

    setup = SdkSetup(args.config, args.set)
    gallery = Gallery(setup, args.gallery, "search")
    emb, error = one_embedding(setup, Path(args.probe), "search")
    if error:
        print(f"facex-core sdk search: {error}", file=sys.stderr)
        return 1
    scores = gallery.scores(emb)
    order = np.argsort(-scores, kind="stable")[: None if args.all else args.top]
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


# -- annotate ------------------------------------------------------------------------------------
def setup_annotate(p: argparse.ArgumentParser) -> None:
    """Arguments of ``sdk annotate``."""
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (searched recursively)")
    add_config_arguments(p)
    p.add_argument("--out", required=True, metavar="DIR", help="annotated images, DIR/<image stem>.jpg")
    p.add_argument("--gallery", metavar="DIR", help="name faces: one sub-folder of images per identity, "
                                                     "matched at the decision threshold")
    p.set_defaults(func=run_annotate)


def run_annotate(args: argparse.Namespace) -> int:
    """Every input drawn with its faces (and, with ``--gallery``, their identities) into ``--out``."""
    import numpy as np

    from facex_core import write_image

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
        target = out_dir / f"{unique_stem(it.path.stem, used)}.jpg"
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
    return summary("annotate", len(files), n_faces, n_err, f" -> {out_dir}")
