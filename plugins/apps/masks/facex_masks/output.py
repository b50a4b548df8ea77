"""What a masking run writes under ``DST`` (layout and formats; see :mod:`facex_masks.dataset`).

* image folder / train list: each image at its relative path (``masked`` mode: the masked image, or
  the original where none was drawn); ``both`` mode: the original (hard-linked when the file system
  allows it) plus ``<stem>_masked<ext>`` beside it. A train-list source gets ``train_list.txt``.
* RecordIO: ``train.rec``/``train.idx``/``property``, assembled at the end from the source records
  and the masked images staged per chunk in the state folder.
* ``mask_templates.txt``, ``mask_log.jsonl`` and ``mask_summary.json``.

Every file appears under its final name complete (:func:`facex_core.write_atomic`, a hard link, or a
rename from the state folder).
"""
from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from facex_core import atomic_output, write_atomic
from facex_data_recordio.recordio import IRHeader, RecordReader, RecordWriter, pack_record, record_label

from .source import MaskSource

RECORD_NAME = "mask_templates.txt"
LOG_NAME = "mask_log.jsonl"
SUMMARY_NAME = "mask_summary.json"
LIST_NAME = "train_list.txt"
MASKED_SUFFIX = "_masked"


def masked_name(rel: str) -> str:
    """Relative path of the masked copy of ``rel`` in ``both`` mode: ``a/b.jpg`` → ``a/b_masked.jpg``."""
    p = PurePosixPath(rel)
    return str(p.with_name(f"{p.stem}{MASKED_SUFFIX}{p.suffix}"))


def to_json(obj: Any) -> str:
    """The one JSON form of settings and log rows (sorted keys, so equal settings give equal text)."""
    return json.dumps(obj, sort_keys=True, default=str)


def _target(root: Path, rel: str) -> Path:
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts:
        raise ValueError(f"{rel}: image path leaves the output folder")
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def put_bytes(root: Path, rel: str, data: bytes) -> None:
    """Write ``data`` to ``root/rel`` (atomically)."""
    write_atomic(_target(root, rel), data)


def put_original(root: Path, rel: str, original: Path) -> None:
    """Place ``original`` at ``root/rel``: a hard link where the file system allows it, else a copy."""
    target = _target(root, rel)
    target.unlink(missing_ok=True)
    try:
        os.link(original, target)  # one step: the link exists complete or not at all
    except OSError:
        with open(original, "rb") as src, atomic_output(target) as out:
            shutil.copyfileobj(src, out)


def place(dst: Path, source: MaskSource, mode: str, r: dict[str, Any]) -> None:
    """Write one image's outputs (image folder / train list sources)."""
    if r["status"] == "unreadable":
        return
    rel = r["path"]
    if r["status"] == "masked" and mode == "masked":
        put_bytes(dst, rel, r["data"])
        return
    put_original(dst, rel, source.path(r["index"]))
    if r["status"] == "masked":
        put_bytes(dst, masked_name(rel), r["data"])


def log_row(r: dict[str, Any], mode: str, recordio: bool) -> dict[str, Any]:
    """The ``mask_log.jsonl`` row of one result."""
    row = {k: r[k] for k in ("path", "seed", "status", "template", "params", "error")}
    if r["status"] == "masked" and not recordio:
        row["masked_path"] = masked_name(r["path"]) if mode == "both" else r["path"]
    return row


def chunk_file(state: Path, chunk: int, ext: str) -> Path:
    """File ``ext`` (``jsonl``: the chunk's log rows, written last; ``rec``/``idx``: its masked records)
    of a finished chunk in the state folder."""
    return state / f"chunk-{chunk:06d}.{ext}"


def _write_recordio(dst: Path, state: Path, source: MaskSource, rows: list[dict[str, Any]], mode: str,
                    chunk_size: int) -> int:
    """Assemble ``train.rec``: originals (``both``, or when not masked) and masked images, in input order."""
    import cv2

    entries: list[tuple[Any, int, int | None]] = []  # (header, source index, staged masked key or None)
    for i, row in enumerate(rows):
        if row["status"] == "unreadable":
            continue
        header, _ = source.record(i)
        if mode == "both" or row["status"] != "masked":
            entries.append((header, i, None))
        if row["status"] == "masked":
            entries.append((header, i, i))
    labels = [record_label(h) for h, _, _ in entries]
    first_id = len(entries) + 1
    starts: dict[int, int] = {}
    ends: dict[int, int] = {}
    for key, label in enumerate(labels, start=1):
        starts.setdefault(label, key)
        ends[label] = key + 1
    contiguous = sum(ends[lab] - starts[lab] for lab in starts) == len(labels)
    id_labels = sorted(starts) if contiguous else []
    staged: dict[int, Any] = {}
    size = None
    rec, idx = state / "train.rec", state / "train.idx"  # assembled in the state folder, then moved
    with RecordWriter(rec, idx) as out:
        out.write(0, pack_record(IRHeader(2, (float(first_id), float(first_id + len(id_labels))), 0, 0), b""))
        for key, (header, i, masked) in enumerate(entries, start=1):
            if masked is None:
                data = source.record(i)[1]
            else:
                c = masked // chunk_size
                if c not in staged:
                    staged[c] = RecordReader(chunk_file(state, c, "rec"), chunk_file(state, c, "idx"))
                data = staged[c].read(masked)
            if size is None:
                img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
                size = img.shape[:2] if img is not None else None
            out.write(key, pack_record(IRHeader(header.flag, header.label, key, 0), data))
        for j, label in enumerate(id_labels):
            out.write(first_id + j, pack_record(IRHeader(2, (float(starts[label]), float(ends[label])), 0, 0), b""))
    for reader in staged.values():
        reader.close()
    os.replace(rec, dst / "train.rec")
    os.replace(idx, dst / "train.idx")
    num_classes = max([max(labels, default=-1) + 1, source.property[0] if source.property else 0])
    h, w = size or (source.property[1:] if source.property else (112, 112))
    write_atomic(dst / "property", f"{num_classes},{h},{w}")
    return len(entries)


def finish(dst: Path, state: Path, source: MaskSource, job: dict[str, Any], rows: list[dict[str, Any]],
           out_list: Path | None) -> dict[str, Any]:
    """Write the record, log, RecordIO / train list and summary files once every chunk is done."""
    mode = job["mode"]
    recordio = source.kind == "recordio"
    write_atomic(dst / RECORD_NAME, "".join(f"{r['path']} {r['template'] or '-'}\n" for r in rows))
    write_atomic(dst / LOG_NAME, "".join(to_json(r) + "\n" for r in rows))
    # paths relative to dst, so the summary (like everything else) does not depend on where dst is
    files: dict[str, str] = {"record": RECORD_NAME, "log": LOG_NAME}
    if recordio:
        written = _write_recordio(dst, state, source, rows, mode, job["chunk_size"])
        files["recordio"] = "train.rec"
    else:
        written = sum((r["status"] != "unreadable") + (mode == "both" and r["status"] == "masked") for r in rows)
    if source.kind == "train_list":
        lines = []
        for r, label in zip(rows, source.labels):
            if r["status"] == "unreadable":
                continue
            lines.append(f"{r['path']} {label}\n")
            if mode == "both" and r["status"] == "masked":
                lines.append(f"{masked_name(r['path'])} {label}\n")
        target = out_list or dst / LIST_NAME
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, "".join(lines))
        files["train_list"] = str(target.relative_to(dst)) if target.is_relative_to(dst) else str(target)
    status = Counter(r["status"] for r in rows)
    summary = {"job": job, "images": len(rows), "masked": status["masked"], "no_face": status["no_face"],
               "failed": status["failed"], "unreadable": status["unreadable"], "written": written,
               "templates": dict(sorted(Counter(r["template"] for r in rows if r["template"]).items())),
               "files": files,
               "first_errors": [r["error"] for r in rows if r["error"]][:10]}
    write_atomic(dst / SUMMARY_NAME, json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
    return summary
