"""`facex-core data pack / inspect / list`: convert, summarise and index face training sets."""
from __future__ import annotations

import collections
import multiprocessing as mp
import os
import random
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .datasets import read_train_list, scan_image_folder
from .image import encode_image, load_image
from ..runtime.progress import Progress
from .recordio import IRHeader, RecordReader, RecordWriter, image_keys, pack_record, read_property, \
    record_label, unpack_record


def source_samples(src: str | os.PathLike, train_list: str | os.PathLike | None = None) -> tuple[Path, list[tuple[str, int]]]:
    """(image root, samples) from an image folder, or from a FaceX-Zoo list under ``src``."""
    src = Path(src)
    if train_list:
        return src, read_train_list(train_list)
    if src.is_file():
        return src.parent, read_train_list(src)
    return src, scan_image_folder(src)


def _read_checked(path: str) -> tuple[bytes | None, tuple[int, int] | None, str]:
    try:
        img = load_image(path)
    except Exception as exc:  # reported per file, never fatal
        return None, None, str(exc)
    data = Path(path).read_bytes()
    if Path(path).suffix.lower() not in (".jpg", ".jpeg"):
        data = encode_image(img)
    return data, img.shape[:2], ""


def write_train_list(src: str | os.PathLike, out: str | os.PathLike) -> int:
    """Image folder → FaceX-Zoo training list (labels by sorted folder name). Returns the count."""
    samples = scan_image_folder(src)
    Path(out).write_text("".join(f"{rel} {label}\n" for rel, label in samples))
    return len(samples)


def pack(src: str | os.PathLike, out: str | os.PathLike, *, train_list: str | None = None,
         shuffle: bool = False, seed: int = 0, workers: int = 0) -> dict[str, Any]:
    """Write ``out/train.rec``, ``train.idx`` and ``property`` from an image folder or train list.

    Order is deterministic (list order, or a seeded shuffle); unreadable images are skipped and
    reported. Without shuffling, InsightFace's identity records are written too.
    """
    root, samples = source_samples(src, train_list)
    order = list(range(len(samples)))
    if shuffle:
        random.Random(seed).shuffle(order)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [str(root / samples[i][0]) for i in order]
    bad: list[str] = []
    size = None
    bar = Progress(len(paths), desc="pack", unit="img")
    ranges: dict[int, list[int]] = collections.defaultdict(list)
    tmp_rec, tmp_idx = out / ".train.rec.tmp", out / ".train.idx.tmp"
    with RecordWriter(tmp_rec, tmp_idx) as writer:
        pool = mp.get_context("spawn").Pool(workers) if workers > 0 else None
        try:
            results = pool.imap(_read_checked, paths, chunksize=64) if pool else map(_read_checked, paths)
            key = 1
            for i, (data, shape, err) in zip(order, results):
                bar.update()
                if data is None:
                    bad.append(err)
                    continue
                size = size or shape
                label = samples[i][1]
                writer.write(key, pack_record(IRHeader(0, float(label), key, 0), data))
                ranges[label].append(key)
                key += 1
        finally:
            if pool:
                pool.close()
                pool.join()
        n_images = key - 1
        first_id = n_images + 1
        id_keys = []
        if not shuffle:
            for label in sorted(ranges):
                keys = ranges[label]
                writer.write(first_id + len(id_keys), pack_record(IRHeader(2, (float(keys[0]), float(keys[-1] + 1)), 0, 0), b""))
                id_keys.append(label)
        end = first_id + len(id_keys)
        writer.write(0, pack_record(IRHeader(2, (float(first_id), float(end)), 0, 0), b""))
    bar.close()
    # record 0 must be found first by sequential readers: rewrite with it in front
    reader = RecordReader(tmp_rec, tmp_idx)
    with RecordWriter(out / "train.rec", out / "train.idx") as final:
        final.write(0, reader.read(0))
        for k in sorted(k for k in reader.index if k != 0):
            final.write(k, reader.read(k))
    reader.close()
    tmp_rec.unlink()
    tmp_idx.unlink()
    num_classes = (max(l for _, l in samples) + 1) if samples else 0
    h, w = size or (112, 112)
    (out / "property").write_text(f"{num_classes},{h},{w}")
    return {"images": n_images, "identities": len(ranges), "num_classes": num_classes,
            "skipped": len(bad), "errors": bad[:20], "out": str(out)}


def inspect(path: str | os.PathLike, sample_sizes: int = 200, check: bool = False) -> dict[str, Any]:
    """Counts, images-per-identity histogram, image sizes and unreadable images of a data set."""
    path = Path(path)
    sizes: collections.Counter = collections.Counter()
    bad: list[str] = []
    if (path / "train.rec").exists() or path.suffix == ".rec":
        rec_dir = path if path.is_dir() else path.parent
        reader = RecordReader(rec_dir / "train.rec", rec_dir / "train.idx")
        keys = image_keys(reader)
        labels = [record_label(reader.read_header(k)) for k in keys]
        to_decode = keys if check else keys[:sample_sizes]
        for k in to_decode:
            _, data = unpack_record(reader.read(k))
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
            if img is None:
                bad.append(f"record {k}")
            else:
                sizes[f"{img.shape[0]}x{img.shape[1]}"] += 1
        kind = "recordio"
        extra = {"property": read_property(rec_dir / "property")} if (rec_dir / "property").exists() else {}
    else:
        root, samples = source_samples(path)
        labels = [l for _, l in samples]
        to_decode = samples if check else samples[:sample_sizes]
        for rel, _ in to_decode:
            try:
                img = load_image(root / rel)
                sizes[f"{img.shape[0]}x{img.shape[1]}"] += 1
            except Exception as exc:
                bad.append(str(exc))
        kind = "train_list" if path.is_file() else "image_folder"
        extra = {}
    per_id = collections.Counter(labels)
    counts = np.array(sorted(per_id.values())) if per_id else np.zeros(0, int)
    edges = [1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 10**9]
    hist = {}
    for lo, hi in zip(edges[:-1], edges[1:]):
        n = int(((counts >= lo) & (counts < hi)).sum())
        if n:
            hist[f"{lo}-{hi - 1}" if hi < 10**9 else f"{lo}+"] = n
    return {"format": kind, "images": len(labels), "identities": len(per_id),
            "images_per_identity": {"min": int(counts.min()) if counts.size else 0,
                                    "median": float(np.median(counts)) if counts.size else 0,
                                    "max": int(counts.max()) if counts.size else 0, "histogram": hist},
            "image_sizes": dict(sizes), "checked": len(to_decode), "unreadable": bad, **extra}
