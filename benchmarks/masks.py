"""Masking throughput on CPU: `data mask` over aligned 112x112 crops and over raw photos, 1 and 2 workers.

    python benchmarks/masks.py                      # shared photos, 48 images per set
    python benchmarks/masks.py --images 200 --adder fma3d --workers 1 2 4
    python benchmarks/masks.py --photos my/photos   # other photos (files or folders)

Each set is a folder of copies of the photos (default: the shared ../shared/data/photos and FaceX-Zoo's
SDK test1/test2), and of their aligned crops (made once through the SDK pipeline: mediapipe ->
mediapipe_mesh -> arcface_5pt). Copies get distinct file names, so each draws its own template and
augmentations. Timing covers the whole `mask_dataset` call (reading, masking, encoding, writing),
including the workers' start-up (spawned processes that import the adder); it is reported too.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_photos() -> list[Path]:
    """The shared photos plus FaceX-Zoo's SDK test1/test2 (those present under ../shared/data)."""
    photos = sorted((SHARED / "photos").glob("*")) if (SHARED / "photos").is_dir() else []
    sdk = [SHARED / "facexzoo-sdk" / f"test{i}.jpg" for i in (1, 2)]
    return [p for p in photos + sdk if p.is_file()]


def make_sets(tmp: Path, n: int, photo_paths: list[str], sdk_set: list[str]) -> dict[str, Path]:
    import cv2

    from facex_sdk import SdkSetup, collect_files, process

    photos = collect_files(photo_paths)[0] if photo_paths else shared_photos()
    if not photos:
        raise SystemExit(f"no photos: pass --photos PATH..., or provide {SHARED / 'photos'}")
    setup = SdkSetup(None, ["detector.name=mediapipe", "landmarker.name=mediapipe_mesh",
                            "aligner.name=arcface_5pt", *sdk_set])
    crops = []
    for it in process(setup, photos, align=True, command="align"):
        crops += [f.crop for f in it.faces if f.crop is not None]
    raw = [cv2.imread(str(p)) for p in photos]
    sets = {}
    for name, images in (("aligned 112", crops), ("raw photos", raw)):
        folder = tmp / name.replace(" ", "_") / "person"
        folder.mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(folder / f"{i:05d}.jpg"), images[i % len(images)])
        sets[name] = folder.parent
    return sets


def worker_startup(adder) -> float:
    """Seconds a spawned worker takes to start and build the adder (part of every multi-worker run)."""
    from facex_core import parallel_map
    from facex_masks.batch import use_adder

    t0 = time.perf_counter()
    list(parallel_map(abs, [0], 1, initializer=use_adder, initargs=(None, type(adder), adder.config, None, {})))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=48, help="images per set")
    ap.add_argument("--photos", nargs="+", default=[], help="photos or folders (default: the shared photos)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--adder", default="fma3d")
    ap.add_argument("--set", action="append", default=[], help="mask adder override (mask_adder.KEY=VALUE)")
    ap.add_argument("--sdk-set", action="append", default=[], help="SDK override for aligning the crops")
    args = ap.parse_args()

    import os

    os.environ.setdefault("FACEX_NO_PROGRESS", "1")
    from facex_masks import build_adder, mask_dataset

    adder = build_adder(None, [f"mask_adder.name={args.adder}", *args.set])
    tmp = Path(tempfile.mkdtemp(prefix="facex-mask-bench-"))
    try:
        sets = make_sets(tmp, args.images, args.photos, args.sdk_set)
        startup = worker_startup(adder)
        rows = []
        for name, src in sets.items():
            for w in args.workers:
                t0 = time.perf_counter()
                info = mask_dataset(src, tmp / f"out-{src.name}-{w}", adder, aligned=name.startswith("aligned"),
                                    workers=w, progress=False)
                dt = time.perf_counter() - t0
                rows.append((name, w, info["images"], info["masked"], dt, info["images"] / dt))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"mask adder {args.adder}; {os.cpu_count()} CPUs; one worker's start-up (spawn + build): {startup:.1f} s")
    print("| input | workers | images | masked | seconds | images/s |")
    print("|---|---|---|---|---|---|")
    for name, w, n, m, dt, rate in rows:
        print(f"| {name} | {w} | {n} | {m} | {dt:.1f} | {rate:.1f} |")


if __name__ == "__main__":
    main()
