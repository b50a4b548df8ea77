"""Masking throughput on CPU: `data mask` over aligned 112x112 crops and over raw photos, 1 and 2 workers.

    python benchmarks/masks.py                      # shared photos, 48 images per set
    python benchmarks/masks.py --images 200 --adder fma3d --workers 1 2 4

Each set is a folder of copies of the shared photos (../shared/data/photos and FaceX-Zoo's SDK
test1/test2), and of their aligned crops (made once through the SDK pipeline: mediapipe ->
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


def make_sets(tmp: Path, n: int, sdk_set: list[str]) -> dict[str, Path]:
    import cv2

    from facex_core.apps.mask_cli import default_sheet_photos
    from facex_core.apps.sdk_cli import SdkSetup, process

    photos = default_sheet_photos()
    if not photos:
        raise SystemExit("no photos: ../shared/data/photos is absent")
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
    import multiprocessing

    from facex_core.apps.mask_data import _init_worker

    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        pool.apply(_init_worker, (type(adder), adder.config, None, {}))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=48, help="images per set")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--adder", default="fma3d")
    ap.add_argument("--set", action="append", default=[], help="mask adder override (mask_adder.KEY=VALUE)")
    ap.add_argument("--sdk-set", action="append", default=[], help="SDK override for aligning the crops")
    args = ap.parse_args()

    import os

    os.environ.setdefault("FACEX_NO_PROGRESS", "1")
    from facex_core.apps.mask_cli import build_adder
    from facex_core.apps.mask_data import mask_dataset

    adder = build_adder(None, [f"mask_adder.name={args.adder}", *args.set])
    tmp = Path(tempfile.mkdtemp(prefix="facex-mask-bench-"))
    try:
        sets = make_sets(tmp, args.images, args.sdk_set)
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
