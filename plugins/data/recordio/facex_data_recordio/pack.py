"""``facex-core data pack``: an image folder or FaceX-Zoo train list into InsightFace's RecordIO layout."""
from __future__ import annotations

import argparse
import collections
import json
import os
import random
from pathlib import Path
from typing import Any

from facex_core import FolderLock, Progress, encode_image, load_image, parallel_map, remove_temporaries, \
    source_samples, temporary_path

from .recordio import IRHeader, RecordWriter, pack_record


def _read_checked(path: str) -> tuple[bytes | None, tuple[int, int] | None, str]:
    try:
        img = load_image(path)
    except Exception as exc:  # reported per file, never fatal
        return None, None, str(exc)
    data = Path(path).read_bytes()
    if Path(path).suffix.lower() not in (".jpg", ".jpeg"):
        data = encode_image(img)
    return data, img.shape[:2], ""


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


def setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", help="image folder (one sub-folder per identity), or an image root with --train-list")
    p.add_argument("out")
    p.add_argument("--train-list", help="FaceX-Zoo list file with paths relative to SRC")
    p.add_argument("--shuffle", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(func=run, interrupt_hint="nothing replaced in the output folder; rerun to pack again")


def run(args: argparse.Namespace) -> int:
    print(json.dumps(pack(args.src, args.out, train_list=args.train_list, shuffle=args.shuffle, seed=args.seed,
                          workers=args.workers), indent=2))
    return 0
