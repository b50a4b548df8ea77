"""Masked copies of whole face data sets (``facex-core data mask``): FaceX-Zoo's FMA-3D recipe offline.

Inputs (:class:`facex_masks.source.MaskSource`): an image folder (one sub-folder per identity), a
FaceX-Zoo train list under an image root, or an InsightFace ``train.rec``/``.idx``/``property`` folder.

What is written under ``DST`` (:mod:`facex_masks.output`):

* image folder / train list: the images at the same relative paths (so a FaceScrub crop folder
  becomes MegaFace-Mask's ``masked_facescrub_crop`` with the devkit paths). ``mode="both"`` keeps
  each original at its path and adds the masked copy as ``<stem>_masked<ext>`` next to it, in the
  same identity (MS-Celeb-1M-v1c-Mask); originals are hard-linked when the file system allows it.
  A train-list source also gets ``train_list.txt`` (labels unchanged; in ``both`` mode each
  original line is followed by its masked copy's line).
* RecordIO: ``train.rec``/``train.idx``/``property`` with the same labels (``both``: each original
  record followed by its masked copy; identity records are written when labels stay contiguous).
* ``mask_templates.txt``: ``relpath template`` per input image in input order (FaceX-Zoo's
  ``facescrub2template_name.txt``; ``-`` where no mask was drawn; RecordIO rows use the record key);
  ``mask_log.jsonl``: per input image its seed, status, template, augmentation draws and error;
  ``mask_summary.json``: the counts and the settings.

Images the adder finds no face in (and images it fails on) are kept **unmasked** (copied in
``masked`` mode, so an evaluation layout stays complete; no masked copy in ``both`` mode) and marked
``no_face``/``failed`` in the log. Unreadable images are skipped and logged with the file named.

Every image's seed is a hash of the base seed and its relative path (record key for RecordIO), so
the output is byte-identical for any worker count and across interrupted-then-resumed runs:
progress is committed per chunk of input order under ``DST/.mask_state`` and a rerun with the same
settings skips the finished chunks. ``DST`` is locked for the whole run (:class:`facex_core.FolderLock`):
a second run into it fails at once, naming the run that holds it.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from facex_core import (ConfigError, FolderLock, Progress, check_settings, parallel_map, remove_temporaries,
                        settings_diff, write_atomic)
from facex_data_recordio.recordio import RecordWriter

from .batch import mask_batch, release_adder, use_adder
from .output import SUMMARY_NAME, chunk_file, finish, log_row, place, to_json
from .plugin import MODES
from .source import MaskSource

STATE_DIR = ".mask_state"
#: Version of the output layout; part of the settings a resumed run must match.
FORMAT_VERSION = 1


def _adder_settings(adder: Any) -> Any:
    import attrs

    cfg = getattr(adder, "config", None)
    return attrs.asdict(cfg) if cfg is not None and attrs.has(type(cfg)) else repr(cfg)


def _read_chunks(state: Path, n_chunks: int) -> dict[int, list[dict[str, Any]]]:
    """Finished chunks' log rows (a chunk's ``.jsonl`` is written last, atomically)."""
    done = {}
    for c in range(n_chunks):
        path = chunk_file(state, c, "jsonl")
        if path.is_file():
            done[c] = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return done


class _Chunks:
    """Commits results in input order: places each image's files and, once a chunk is complete, its
    staged masked records (RecordIO) and log rows, which mark it finished for a resumed run."""

    def __init__(self, dst: Path, state: Path, source: MaskSource, mode: str, chunk_size: int,
                 done: dict[int, list[dict[str, Any]]]) -> None:
        self.dst, self.state, self.source, self.mode, self.chunk_size = dst, state, source, mode, chunk_size
        self.done = done
        self.counts: Counter = Counter()
        self.open: dict[str, Any] = {}

    def commit(self, r: dict[str, Any]) -> None:
        """Place result ``r`` (the next one in input order); finish its chunk when it is the chunk's last."""
        c = r["index"] // self.chunk_size
        if self.open.get("id") != c:
            self.close()
            size = min(len(self.source), (c + 1) * self.chunk_size) - c * self.chunk_size
            self.open.update(id=c, rows=[], size=size)
            if self.source.reader is not None:  # a chunk without its .jsonl is redone: no temporaries needed
                self.open["writer"] = RecordWriter(chunk_file(self.state, c, "rec"), chunk_file(self.state, c, "idx"))
        if self.source.reader is None:
            place(self.dst, self.source, self.mode, r)
        elif r["status"] == "masked":
            self.open["writer"].write(r["index"], r["data"])
        self.open["rows"].append(log_row(r, self.mode, self.source.reader is not None))
        self.counts[r["status"]] += 1
        if len(self.open["rows"]) == self.open["size"]:
            self.close()
            write_atomic(chunk_file(self.state, c, "jsonl"), "".join(to_json(row) + "\n" for row in self.open["rows"]))
            self.done[c] = self.open["rows"]
            self.open.clear()

    def close(self) -> None:
        """Close the open chunk's record writer (the chunk stays unfinished unless it was complete)."""
        writer = self.open.pop("writer", None)
        if writer is not None:
            writer.close()


def mask_dataset(src: str | os.PathLike, dst: str | os.PathLike, adder: Any, *,
                 train_list: str | os.PathLike | None = None, aligned: bool | None = None,
                 template: str | None = None, mode: str = "masked", seed: int = 0, workers: int = 0,
                 batch_size: int = 16, chunk_size: int = 256, out_list: str | os.PathLike | None = None,
                 progress: bool = True, on_batch: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Write a masked copy of data set ``src`` under ``dst`` with mask adder ``adder``; return the summary.

    ``aligned`` says the inputs are aligned crops (default: true for train lists and RecordIO, false
    for image folders); ``template`` forces one template; ``mode`` is ``"masked"`` (masked copies only)
    or ``"both"`` (originals plus masked copies as extra samples of the same identity). With
    ``workers > 0`` each spawned worker rebuilds the adder as ``type(adder)(adder.config)``. A rerun
    continues an interrupted run (same settings required) and returns at once when it is complete.
    The output does not depend on ``workers``, ``batch_size`` or interruptions.
    """
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be an integer >= 0, got {workers!r}")
    if batch_size < 1 or chunk_size < 1:
        raise ValueError("batch_size and chunk_size must be >= 1")
    source = MaskSource(src, train_list)
    if aligned is None:
        aligned = source.kind != "image_folder"
    if template:
        known = list(adder.templates())
        if template not in known:
            raise ConfigError(f"template {template!r} is not one of the adder's templates: {', '.join(known)}")
    dst = Path(dst)
    if dst.resolve() == Path(source.root).resolve():
        raise ConfigError(f"{dst}: the output folder must differ from the source's image root")
    job = {"format_version": FORMAT_VERSION, "source": source.kind, "images": len(source),
           "adder": f"{type(adder).__module__}.{type(adder).__qualname__}", "adder_config": _adder_settings(adder),
           "seed": int(seed), "aligned": bool(aligned), "template": template or None, "mode": mode,
           "chunk_size": int(chunk_size)}
    job = json.loads(to_json(job))  # the form it has once read back from disk
    with FolderLock(dst, "data mask"):
        return _run(source, dst, adder, job, workers=workers, batch_size=batch_size,
                    out_list=Path(out_list) if out_list else None, progress=progress, on_batch=on_batch)


def _run(source: MaskSource, dst: Path, adder: Any, job: dict[str, Any], *, workers: int, batch_size: int,
         out_list: Path | None, progress: bool, on_batch: Callable[[int], None] | None) -> dict[str, Any]:
    """:func:`mask_dataset` once ``dst`` is locked: check the settings, mask the pending chunks, finish."""
    summary_path, state = dst / SUMMARY_NAME, dst / STATE_DIR
    if summary_path.is_file():
        done = json.loads(summary_path.read_text(encoding="utf-8"))
        old = done.get("job") if isinstance(done, dict) else None
        if old == job:
            return {**done, "out": str(dst), "already_done": True}
        diff = settings_diff(old, job) if isinstance(old, dict) else "unreadable settings"
        raise ConfigError(f"{dst}: holds a masked copy made with other settings ({diff}); "
                          "choose another folder or delete it")
    remove_temporaries(dst)  # what a killed run left behind
    check_settings(state / "job.json", job, "masking run")
    chunk_size = job["chunk_size"]
    n_chunks = (len(source) + chunk_size - 1) // chunk_size
    chunks = _Chunks(dst, state, source, job["mode"], chunk_size, _read_chunks(state, n_chunks))
    tasks = []
    for c in range(n_chunks):
        if c not in chunks.done:
            idx = list(range(c * chunk_size, min(len(source), (c + 1) * chunk_size)))
            tasks += [idx[s:s + batch_size] for s in range(0, len(idx), batch_size)]
    skipped = len(source) - sum(len(t) for t in tasks)
    bar = Progress(len(source), desc="mask", unit="img", initial=skipped) if progress else None
    t0 = time.perf_counter()
    # this process masks with ``adder`` itself; each spawned worker builds its own from the class and config
    in_process = workers == 0 or not tasks
    adder_args = (adder if in_process else None, type(adder), getattr(adder, "config", None))
    stream = parallel_map(mask_batch, tasks, workers, initializer=use_adder, initargs=(*adder_args, source, job))
    try:
        with contextlib.closing(stream):  # stopping early (an error, Ctrl-C) terminates the workers at once
            for results in stream:
                for r in results:
                    chunks.commit(r)
                if bar is not None:
                    n = chunks.counts
                    bar.update(len(results), postfix=f"masked {n['masked']}, no face {n['no_face']}, "
                                                     f"failed {n['failed']}, unreadable {n['unreadable']}")
                if on_batch is not None:
                    on_batch(len(results))
    finally:
        chunks.close()
        release_adder()
        if bar is not None:
            bar.close()
    rows = [row for c in range(n_chunks) for row in chunks.done[c]]
    summary = finish(dst, state, source, job, rows, out_list)
    shutil.rmtree(state, ignore_errors=True)
    return {**summary, "out": str(dst), "resumed_from": skipped, "seconds": round(time.perf_counter() - t0, 3)}
