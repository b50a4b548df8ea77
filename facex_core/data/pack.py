"""`facex-core data pack / inspect / list`: convert, summarise and index face training sets."""
from __future__ import annotations

import collections
import os
import random
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import DataError
from ..runtime.files import remove_temporaries, temporary_path, write_atomic
from ..runtime.jobs import FolderLock, parallel_map
from ..runtime.progress import Progress
from .datasets import read_train_list, scan_image_folder
from .image import encode_image, load_image
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
    """Image folder → FaceX-Zoo training list; returns the count (names that would not read back are refused)."""
    samples = scan_image_folder(src)
    bad = [rel for rel, _ in samples if "\n" in rel or "\r" in rel or rel != rel.strip()]
    if bad:
        raise DataError(f"{Path(src) / bad[0]!r}: a file name with a line break or edge spaces cannot go in a "
                        f"train list ({len(bad)} such files); rename them")
    write_atomic(out, "".join(f"{rel} {label}\n" for rel, label in samples))
    return len(samples)


def pack(src: str | os.PathLike, out: str | os.PathLike, *, train_list: str | None = None,
         shuffle: bool = False, seed: int = 0, workers: int = 0) -> dict[str, Any]:
    """Write ``out/train.rec``, ``train.idx`` and ``property`` from an image folder or train list (unreadable images
    skipped and reported; identity records unless shuffled); an interrupted pack leaves an earlier one untouched."""
    root, samples = source_samples(src, train_list)
    order = list(range(len(samples)))
    if shuffle:
        random.Random(seed).shuffle(order)
    out = Path(out)
    with FolderLock(out, "data pack"):
        remove_temporaries(out)
        paths = [str(root / samples[i][0]) for i in order]
        bad: list[str] = []
        size = None
        bar = Progress(len(paths), desc="pack", unit="img")
        ranges: dict[int, list[int]] = collections.defaultdict(list)
        temps = {name: temporary_path(out / name) for name in ("train.rec", "train.idx", "property")}
        key = 0
        try:
            with RecordWriter(temps["train.rec"], temps["train.idx"]) as writer:
                # record 0 (the header sequential readers expect first) is patched in place below, once the
                # number of images is known: same size, the image records stream to disk meanwhile
                writer.write(0, pack_record(IRHeader(2, (1.0, 1.0), 0, 0), b""))
                for i, (data, shape, err) in zip(order, parallel_map(_read_checked, paths, workers, chunksize=64)):
                    bar.update()
                    if data is None:
                        bad.append(err)
                        continue
                    size = size or shape
                    key += 1
                    writer.write(key, pack_record(IRHeader(0, float(samples[i][1]), key, 0), data))
                    ranges[samples[i][1]].append(key)
                first_id = key + 1
                identities = [] if shuffle else sorted(ranges)
                for j, label in enumerate(identities):
                    keys = ranges[label]
                    writer.write(first_id + j, pack_record(IRHeader(2, (float(keys[0]), float(keys[-1] + 1)), 0, 0), b""))
            bar.close()
            header = pack_record(IRHeader(2, (float(first_id), float(first_id + len(identities))), 0, 0), b"")
            with open(temps["train.rec"], "r+b") as fh:
                fh.seek(8)  # past record 0's magic word and length
                fh.write(header)
            num_classes = (max(l for _, l in samples) + 1) if samples else 0
            h, w = size or (112, 112)
            temps["property"].write_text(f"{num_classes},{h},{w}")
            for name in ("train.idx", "property", "train.rec"):
                os.replace(temps[name], out / name)
        finally:  # interrupted or failed: the earlier pack stays, no half-written file is left
            for tmp in temps.values():
                tmp.unlink(missing_ok=True)
    return {"images": key, "identities": len(ranges), "num_classes": num_classes,
            "skipped": len(bad), "errors": bad[:20], "out": str(out)}


def inspect(path: str | os.PathLike, check: bool = False, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """Counts, images-per-identity histogram, image sizes (of the first 200 images, or all with ``check``)
    and unreadable images of a data set (``root``: the folder a train list's paths are relative to)."""
    path = Path(path)
    sizes: collections.Counter = collections.Counter()
    bad: list[str] = []
    if (path / "train.rec").exists() or path.suffix == ".rec":
        rec_dir = path if path.is_dir() else path.parent
        reader = RecordReader(rec_dir / "train.rec", rec_dir / "train.idx")
        keys = image_keys(reader)
        labels = [record_label(reader.read_header(k)) for k in keys]
        to_decode = keys if check else keys[:200]
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
        root, samples = source_samples(root or path, path if root else None)
        labels = [l for _, l in samples]
        to_decode = samples if check else samples[:200]
        for rel, _ in to_decode:
            try:
                img = load_image(root / rel)
                sizes[f"{img.shape[0]}x{img.shape[1]}"] += 1
            except Exception as exc:
                bad.append(str(exc))
        kind = "train_list" if path.is_file() else "image_folder"
        extra = {}
    per_id = collections.Counter(labels)
    counts = np.array(list(per_id.values()), dtype=int)
    edges = [1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 10**9]
    hist = {f"{lo}-{hi - 1}" if hi < 10**9 else f"{lo}+": n for lo, hi in zip(edges[:-1], edges[1:])
            if (n := int(((counts >= lo) & (counts < hi)).sum()))}
    return {"format": kind, "images": len(labels), "identities": len(per_id),
            "images_per_identity": {"min": int(counts.min()) if counts.size else 0,
                                    "median": float(np.median(counts)) if counts.size else 0,
                                    "max": int(counts.max()) if counts.size else 0, "histogram": hist},
            "image_sizes": dict(sizes), "checked": len(to_decode), "unreadable": bad, **extra}
