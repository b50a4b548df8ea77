"""Masked copies of whole face data sets (``facex-core data mask``): FaceX-Zoo's FMA-3D recipe offline.

Inputs, recognised like ``data pack``: an image folder (one sub-folder per identity), a FaceX-Zoo
train list under an image root, or an InsightFace ``train.rec``/``.idx``/``property`` folder.

What is written under ``DST``:

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
progress is committed per chunk of input order under ``DST/.mask_state`` and a rerun skips the
finished chunks.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import time
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Sequence

import numpy as np

RECORD_NAME = "mask_templates.txt"
LOG_NAME = "mask_log.jsonl"
SUMMARY_NAME = "mask_summary.json"
LIST_NAME = "train_list.txt"
STATE_DIR = ".mask_state"
MASKED_SUFFIX = "_masked"
MODES = ("masked", "both")
#: Version of the output layout; part of the settings a resumed run must match.
FORMAT_VERSION = 1


def image_seed(seed: int, key: str) -> int:
    """Seed of one image: a hash of the base seed and its relative path (or record key).

    Independent of worker count, processing order and which images a resumed run skips.
    """
    digest = hashlib.blake2b(f"{seed}\0{key}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFF_FFFF


def masked_name(rel: str) -> str:
    """Relative path of the masked copy of ``rel`` in ``both`` mode: ``a/b.jpg`` → ``a/b_masked.jpg``."""
    p = PurePosixPath(rel)
    return str(p.with_name(f"{p.stem}{MASKED_SUFFIX}{p.suffix}"))


class MaskSource:
    """The images of a data set to mask, read by index (picklable, so workers can share it)."""

    def __init__(self, src: str | os.PathLike, train_list: str | os.PathLike | None = None) -> None:
        src = Path(src)
        self.reader = None
        self.property: tuple[int, int, int] | None = None
        if not train_list and ((src / "train.rec").is_file() or src.suffix == ".rec"):
            from ..data.recordio import RecordReader, image_keys, read_property, record_label

            self.kind = "recordio"
            self.root = src if src.is_dir() else src.parent
            self.reader = RecordReader(self.root / "train.rec", self.root / "train.idx")
            keys = image_keys(self.reader)
            self.keys = [str(k) for k in keys]
            self.labels = [record_label(self.reader.read_header(k)) for k in keys]
            if (self.root / "property").is_file():
                self.property = read_property(self.root / "property")
        else:
            from ..data.pack import source_samples

            if not src.exists():
                raise FileNotFoundError(f"{src}: no such image folder, train list or .rec folder")
            self.kind = "train_list" if (train_list or src.is_file()) else "image_folder"
            self.root, samples = source_samples(src, train_list)
            self.keys = [rel for rel, _ in samples]
            self.labels = [label for _, label in samples]

    def __len__(self) -> int:
        return len(self.keys)

    def path(self, i: int) -> Path:
        return self.root / self.keys[i]

    def record(self, i: int) -> tuple[Any, bytes]:
        """(header, encoded image) of RecordIO image ``i``."""
        from ..data.recordio import unpack_record

        assert self.reader is not None
        return unpack_record(self.reader.read(int(self.keys[i])))

    def read(self, i: int) -> tuple[np.ndarray | None, str | None]:
        """(BGR image, None) or (None, error naming the file or record)."""
        import cv2

        from ..data.image import load_image

        try:
            if self.reader is None:
                return load_image(self.path(i)), None
            _, data = self.record(i)
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
            if img is None:
                return None, f"{self.root / 'train.rec'}: record {self.keys[i]} is not a decodable image"
            return img, None
        except Exception as exc:  # noqa: BLE001 - one bad image never stops the run
            return None, str(exc) if self.reader is None else f"{self.root}: record {self.keys[i]}: {exc}"


# -- masking one batch (in a worker or in-process) -------------------------------------------------
def _call_adder(adder: Any, images: list[np.ndarray], seeds: list[int], job: dict[str, Any]) -> list[Any]:
    templates = [job["template"]] * len(images) if job["template"] else None
    out = list(adder.add_masks(images, seeds, aligned=job["aligned"], templates=templates))
    if len(out) != len(images):
        raise ValueError(f"add_masks returned {len(out)} results for {len(images)} images")
    return out


def mask_items(adder: Any, source: MaskSource, job: dict[str, Any], indices: Sequence[int]) -> list[dict[str, Any]]:
    """Mask images ``indices`` of ``source``: one result dict each (encoded bytes under ``data``).

    A batch the adder fails on is retried image by image, so an error lands on its own image.
    """
    from ..data.image import encode_image

    results, images = [], []
    for i in indices:
        key = source.keys[i]
        r: dict[str, Any] = {"index": i, "path": key, "seed": image_seed(job["seed"], key), "status": "",
                             "template": None, "params": {}, "error": None, "data": None}
        img, err = source.read(i)
        if err is not None:
            r.update(status="unreadable", error=err)
        else:
            images.append(img)
        results.append(r)
    todo = [r for r in results if not r["status"]]
    if not todo:
        return results
    seeds = [r["seed"] for r in todo]
    try:
        outs: list[Any] = _call_adder(adder, images, seeds, job)
    except Exception:  # noqa: BLE001 - isolate the failing image
        outs = []
        for img, seed in zip(images, seeds):
            try:
                outs.extend(_call_adder(adder, [img], [seed], job))
            except Exception as exc:  # noqa: BLE001
                outs.append(exc)
    suffix = ".jpg" if source.reader is not None else None
    for r, img, out in zip(todo, images, outs):
        where = str(source.path(r["index"])) if source.reader is None else f"record {r['path']}"
        if isinstance(out, Exception):
            r.update(status="failed", error=f"{where}: mask adder failed ({type(out).__name__}: {out})")
        elif out.image is None:
            r.update(status="no_face", error=out.error or "no mask added")
        elif np.asarray(out.image).shape != img.shape or np.asarray(out.image).dtype != np.uint8:
            r.update(status="failed", error=f"{where}: mask adder returned an image of shape "
                                            f"{np.asarray(out.image).shape}, expected {img.shape} uint8")
        else:
            r.update(status="masked", template=out.template, params=dict(out.params or {}),
                     data=encode_image(out.image, suffix or PurePosixPath(r["path"]).suffix))
    return results


_WORKER: dict[str, Any] = {}


def _init_worker(adder_cls: type, adder_config: Any, source: MaskSource, job: dict[str, Any]) -> None:
    import cv2

    cv2.setNumThreads(1)  # the processes are the parallelism
    _WORKER.update(adder=adder_cls(adder_config), source=source, job=job)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _worker_batch(indices: list[int]) -> list[dict[str, Any]]:
    return mask_items(_WORKER["adder"], _WORKER["source"], _WORKER["job"], indices)


# -- writing -----------------------------------------------------------------------------------
def _check_rel(rel: str) -> None:
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts:
        raise ValueError(f"{rel}: image path leaves the output folder")


class _Output:
    """Places results under ``dst``; temporary files live in the state folder (removed at the end)."""

    def __init__(self, dst: Path, state: Path, source: MaskSource, mode: str) -> None:
        self.dst, self.state, self.source, self.mode = dst, state, source, mode

    def _put(self, rel: str, data: bytes | None = None, original: Path | None = None) -> None:
        _check_rel(rel)
        target = self.dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state / f"put-{os.getpid()}.tmp"
        tmp.unlink(missing_ok=True)
        if data is not None:
            tmp.write_bytes(data)
        else:
            try:
                os.link(original, tmp)  # type: ignore[arg-type]
            except OSError:
                shutil.copyfile(original, tmp)  # type: ignore[arg-type]
        os.replace(tmp, target)

    def place(self, r: dict[str, Any]) -> None:
        """Write one image's outputs (image folder / train list sources)."""
        if r["status"] == "unreadable":
            return
        rel = r["path"]
        if r["status"] == "masked" and self.mode == "masked":
            self._put(rel, data=r["data"])
            return
        self._put(rel, original=self.source.path(r["index"]))
        if r["status"] == "masked":
            self._put(masked_name(rel), data=r["data"])


def _atomic_text(path: Path, text: str) -> None:
    from ..runtime.files import write_atomic as write_bytes_atomic

    write_bytes_atomic(path, text.encode("utf-8"))


def _log_row(r: dict[str, Any], mode: str, recordio: bool) -> dict[str, Any]:
    row = {k: r[k] for k in ("path", "seed", "status", "template", "params", "error")}
    if r["status"] == "masked" and not recordio:
        row["masked_path"] = masked_name(r["path"]) if mode == "both" else r["path"]
    return row


def _json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


def _read_chunks(state: Path, n_chunks: int) -> dict[int, list[dict[str, Any]]]:
    """Finished chunks' log rows (a chunk's ``.jsonl`` is written last, atomically)."""
    done = {}
    for c in range(n_chunks):
        path = state / f"chunk-{c:06d}.jsonl"
        if path.is_file():
            done[c] = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return done


def _write_recordio(dst: Path, state: Path, source: MaskSource, rows: list[dict[str, Any]], mode: str,
                    chunk_size: int) -> int:
    """Assemble ``train.rec``: originals (``both``, or when not masked) and masked images, in input order."""
    import cv2

    from ..data.recordio import IRHeader, RecordReader, RecordWriter, pack_record, record_label

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
    staged: dict[int, RecordReader] = {}
    size = None
    tmp_rec, tmp_idx = state / "train.rec.tmp", state / "train.idx.tmp"
    with RecordWriter(tmp_rec, tmp_idx) as out:
        out.write(0, pack_record(IRHeader(2, (float(first_id), float(first_id + len(id_labels))), 0, 0), b""))
        for key, (header, i, masked) in enumerate(entries, start=1):
            if masked is None:
                data = source.record(i)[1]
            else:
                c = masked // chunk_size
                if c not in staged:
                    staged[c] = RecordReader(state / f"chunk-{c:06d}.rec", state / f"chunk-{c:06d}.idx")
                data = staged[c].read(masked)
            if size is None:
                img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
                size = img.shape[:2] if img is not None else None
            out.write(key, pack_record(IRHeader(header.flag, header.label, key, 0), data))
        for j, label in enumerate(id_labels):
            out.write(first_id + j, pack_record(IRHeader(2, (float(starts[label]), float(ends[label])), 0, 0), b""))
    for reader in staged.values():
        reader.close()
    os.replace(tmp_rec, dst / "train.rec")
    os.replace(tmp_idx, dst / "train.idx")
    num_classes = max([max(labels, default=-1) + 1, source.property[0] if source.property else 0])
    h, w = size or (source.property[1:] if source.property else (112, 112))
    _atomic_text(dst / "property", f"{num_classes},{h},{w}")
    return len(entries)


def _finish(dst: Path, state: Path, source: MaskSource, job: dict[str, Any], rows: list[dict[str, Any]],
            chunk_size: int, out_list: Path | None) -> dict[str, Any]:
    mode = job["mode"]
    recordio = source.kind == "recordio"
    _atomic_text(dst / RECORD_NAME, "".join(f"{r['path']} {r['template'] or '-'}\n" for r in rows))
    _atomic_text(dst / LOG_NAME, "".join(_json(r) + "\n" for r in rows))
    # paths relative to dst, so the summary (like everything else) does not depend on where dst is
    files: dict[str, str] = {"record": RECORD_NAME, "log": LOG_NAME}
    if recordio:
        written = _write_recordio(dst, state, source, rows, mode, chunk_size)
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
        _atomic_text(target, "".join(lines))
        files["train_list"] = str(target.relative_to(dst)) if target.is_relative_to(dst) else str(target)
    status = Counter(r["status"] for r in rows)
    summary = {"job": job, "images": len(rows), "masked": status["masked"], "no_face": status["no_face"],
               "failed": status["failed"], "unreadable": status["unreadable"], "written": written,
               "templates": dict(sorted(Counter(r["template"] for r in rows if r["template"]).items())),
               "files": files,
               "first_errors": [r["error"] for r in rows if r["error"]][:10]}
    _atomic_text(dst / SUMMARY_NAME, json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
    return summary


def _adder_settings(adder: Any) -> Any:
    import attrs

    from ..configs.toml import unstructure

    cfg = getattr(adder, "config", None)
    return unstructure(cfg) if cfg is not None and attrs.has(type(cfg)) else repr(cfg)


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
    from ..errors import ConfigError
    from ..runtime.progress import Progress

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
    job = json.loads(_json(job))  # the form it has once read back from disk
    summary_path, state = dst / SUMMARY_NAME, dst / STATE_DIR
    if summary_path.is_file():
        done = json.loads(summary_path.read_text(encoding="utf-8"))
        if done.get("job") == job:
            return {**done, "out": str(dst), "already_done": True}
    if summary_path.is_file() or (state / "job.json").is_file():
        old = json.loads((state / "job.json").read_text(encoding="utf-8")) if (state / "job.json").is_file() \
            else json.loads(summary_path.read_text(encoding="utf-8")).get("job")
        if old != job:
            diff = "; ".join(f"{k}: {old.get(k)!r} there, {job.get(k)!r} now" for k in sorted(set(old) | set(job))
                             if old.get(k) != job.get(k)) if isinstance(old, dict) else "unreadable settings"
            raise ConfigError(f"{dst}: holds a masking run with other settings ({diff}); "
                              "choose another folder or delete it")
    state.mkdir(parents=True, exist_ok=True)
    if not (state / "job.json").is_file():
        _atomic_text(state / "job.json", _json(job))
    n_chunks = (len(source) + chunk_size - 1) // chunk_size
    chunks = _read_chunks(state, n_chunks)
    pending = [c for c in range(n_chunks) if c not in chunks]
    tasks = []
    for c in pending:
        idx = list(range(c * chunk_size, min(len(source), (c + 1) * chunk_size)))
        tasks += [idx[s:s + batch_size] for s in range(0, len(idx), batch_size)]
    skipped = len(source) - sum(len(t) for t in tasks)
    output = _Output(dst, state, source, mode)
    bar = Progress(len(source), desc="mask", unit="img", initial=skipped) if progress else None
    counts: Counter = Counter()
    t0 = time.perf_counter()
    open_chunk: dict[str, Any] = {}

    def commit(results: list[dict[str, Any]]) -> None:
        from ..data.recordio import RecordWriter

        for r in results:
            c = r["index"] // chunk_size
            if open_chunk.get("id") != c:
                open_chunk.clear()
                open_chunk.update(id=c, rows=[], size=min(len(source), (c + 1) * chunk_size) - c * chunk_size)
                if source.reader is not None:
                    open_chunk["writer"] = RecordWriter(state / f"chunk-{c:06d}.rec.tmp", state / f"chunk-{c:06d}.idx.tmp")
            if source.reader is None:
                output.place(r)
            elif r["status"] == "masked":
                open_chunk["writer"].write(r["index"], r["data"])
            open_chunk["rows"].append(_log_row(r, mode, source.reader is not None))
            counts[r["status"]] += 1
            if len(open_chunk["rows"]) == open_chunk["size"]:
                if "writer" in open_chunk:
                    open_chunk["writer"].close()
                    for ext in ("rec", "idx"):
                        os.replace(state / f"chunk-{c:06d}.{ext}.tmp", state / f"chunk-{c:06d}.{ext}")
                _atomic_text(state / f"chunk-{c:06d}.jsonl", "".join(_json(row) + "\n" for row in open_chunk["rows"]))
                chunks[c] = open_chunk["rows"]
                open_chunk.clear()
        if bar is not None:
            bar.update(len(results), postfix=f"masked {counts['masked']}, no face {counts['no_face']}, "
                                             f"failed {counts['failed']}, unreadable {counts['unreadable']}")
        if on_batch is not None:
            on_batch(len(results))

    try:
        if tasks and workers == 0:
            for t in tasks:
                commit(mask_items(adder, source, job, t))
        elif tasks:
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(min(workers, len(tasks)), initializer=_init_worker,
                          initargs=(type(adder), adder.config, source, job)) as pool:
                for results in pool.imap(_worker_batch, tasks):
                    commit(results)
    finally:
        if "writer" in open_chunk:
            open_chunk["writer"].close()
        if bar is not None:
            bar.close()
    rows = [row for c in range(n_chunks) for row in chunks[c]]
    summary = _finish(dst, state, source, job, rows, chunk_size, Path(out_list) if out_list else None)
    shutil.rmtree(state, ignore_errors=True)
    return {**summary, "out": str(dst), "resumed_from": skipped, "seconds": round(time.perf_counter() - t0, 3)}


#: In a one-side-masked LFW set, the masked copy of image ``k`` of a person is image ``k + 1000``.
MASKED_IMAGE_OFFSET = 1000


def one_side_masked_pairs(pairs_file: str | os.PathLike, image_root: str | os.PathLike,
                          masked_root: str | os.PathLike, out_dir: str | os.PathLike) -> dict[str, str]:
    """An LFW-format pairs set whose second image of every pair wears a mask.

    Reads ``pairs_file`` (header line, then ``name i j`` / ``name1 i name2 j``), links each pair's
    first image from ``image_root`` and its second from ``masked_root`` (same relative paths, as
    ``data mask`` writes them) as image ``j + 1000`` under ``out_dir/images``, and writes
    ``out_dir/pairs.txt``: the same pairs, so the LFW protocol runs unchanged on it.
    """
    image_root, masked_root, out = Path(image_root), Path(masked_root), Path(out_dir)
    lines = Path(pairs_file).read_text(encoding="utf-8").splitlines()
    if not lines:
        raise ValueError(f"{pairs_file}: empty pairs file")
    (out / "images").mkdir(parents=True, exist_ok=True)
    state = out / STATE_DIR
    state.mkdir(exist_ok=True)
    placer = _Output(out / "images", state, None, "masked")  # type: ignore[arg-type]
    out_lines = [lines[0]]
    for lineno, line in enumerate(lines[1:], start=2):
        fields = line.split()
        if not fields:
            continue
        if len(fields) not in (3, 4) or not all(f.isdigit() for f in fields[1::2] + fields[-1:]):
            raise ValueError(f"{pairs_file}:{lineno}: expected 'name i j' or 'name1 i name2 j', got {line!r}")
        first = (fields[0], int(fields[1]))
        second = (fields[0] if len(fields) == 3 else fields[2], int(fields[-1]))
        if max(first[1], second[1]) >= MASKED_IMAGE_OFFSET:
            raise ValueError(f"{pairs_file}:{lineno}: image numbers must be below {MASKED_IMAGE_OFFSET}")

        def rel(name: str, k: int) -> str:
            return f"{name}/{name}_{k:04d}.jpg"

        masked = (second[0], second[1] + MASKED_IMAGE_OFFSET)
        for src_root, (name, k), target in ((image_root, first, first), (masked_root, second, masked)):
            source = src_root / rel(name, k)
            if not source.is_file():
                raise FileNotFoundError(f"{source}: image named by {pairs_file}:{lineno} not found")
            if not (out / "images" / rel(*target)).exists():
                placer._put(rel(*target), original=source)
        out_lines.append(f"{first[0]}\t{first[1]}\t{masked[1]}" if len(fields) == 3
                         else f"{first[0]}\t{first[1]}\t{masked[0]}\t{masked[1]}")
    _atomic_text(out / "pairs.txt", "\n".join(out_lines) + "\n")
    shutil.rmtree(state, ignore_errors=True)
    return {"pairs_file": str(out / "pairs.txt"), "image_root": str(out / "images")}
