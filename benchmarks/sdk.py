"""CPU latency of each SDK stage and end-to-end images/s, on the shared photos, for two pipelines.

* ``default``: mediapipe → mediapipe_mesh → dlib_chip → dlib_resnet (the zero-download default);
* ``retinaface``: retinaface_mnet025 → (no landmarker) → arcface_5pt → facex recognizer with an
  untrained MobileFaceNet (FaceX-Zoo's SDK architecture; the weights do not change the speed).

Each image goes through the stages alone (batch of one, as an interactive caller would); a stage's
latency is the median over the runs, averaged over the images; end-to-end is images / median time
of a full pass over the images (decoding excluded: the images are read once up front).

    python benchmarks/sdk.py [--runs 5] [--threads 1] [--pipelines default retinaface]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
IMAGES = ["photos/obama.jpg", "photos/obama2.jpg", "photos/biden.jpg", "photos/astronaut.png",
          "photos/group6.jpg", "facexzoo-sdk/test1.jpg", "facexzoo-sdk/test2.jpg", "facexzoo-sdk/test3_mask.jpg"]
STAGES = ("detector", "landmarker", "aligner", "recognizer")


def tiny_checkpoint(folder: Path) -> Path:
    """An untrained MobileFaceNet FaceX checkpoint, for the retinaface pipeline's recognizer."""
    import torch

    import facex_core

    exp = facex_core.Experiment({"experiment": {"name": "bench"}, "backbone": {"name": "mobilefacenet"}})
    torch.manual_seed(0)
    backbone = exp.build_backbone().eval()
    path = folder / "mobilefacenet.pt"
    facex_core.save_backbone_checkpoint(path, exp.resolved(), backbone)
    return path


def pipeline_overrides(name: str, scratch: Path) -> list[str]:
    if name == "default":
        return []
    weights = DATA / "facexzoo-sdk" / "retinaface_mobilenet0.25.npz"
    return ["detector.name=retinaface_mnet025", f"detector.weights={weights}", "detector.device=cpu",
            "landmarker.name=none", "aligner.name=arcface_5pt", "recognizer.name=facex",
            f"recognizer.checkpoint={tiny_checkpoint(scratch)}", "recognizer.device=cpu"]


def one_pass(stages: dict, image) -> tuple[dict[str, float], int]:
    """Run one image through the stages; seconds per stage and the number of faces."""
    times = {}
    t0 = time.perf_counter()
    faces = stages["detector"].detect([image])
    times["detector"] = time.perf_counter() - t0
    if stages["landmarker"] is not None:
        t0 = time.perf_counter()
        faces = stages["landmarker"].locate([image], faces)
        times["landmarker"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    faces = stages["aligner"].align([image], faces)
    times["aligner"] = time.perf_counter() - t0
    crops = [f.crop for f in faces[0] if f.crop is not None]
    t0 = time.perf_counter()
    if crops:
        stages["recognizer"].embed(crops)
    times["recognizer"] = time.perf_counter() - t0
    return times, len(faces[0])


def bench(name: str, images: list, runs: int, scratch: Path) -> dict:
    from facex_sdk import SdkSetup

    setup = SdkSetup(None, pipeline_overrides(name, scratch))
    stages = {kind: setup.stage(kind, "benchmark") for kind in STAGES}
    for image in images:  # warm-up: lazy initialisation, first-call allocations
        one_pass(stages, image)
    per_stage = {kind: [[] for _ in images] for kind in STAGES}
    totals, faces = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        faces = 0
        for i, image in enumerate(images):
            times, n = one_pass(stages, image)
            faces += n
            for kind, seconds in times.items():
                per_stage[kind][i].append(seconds)
        totals.append(time.perf_counter() - t0)
    ms = {kind: (statistics.fmean(statistics.median(t) for t in per_stage[kind]) * 1000
                 if per_stage[kind][0] else None) for kind in STAGES}
    return {"names": setup.names, "ms": ms, "faces": faces, "images_per_s": len(images) / statistics.median(totals)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (RetinaFace, MobileFaceNet)")
    parser.add_argument("--pipelines", nargs="+", default=["default", "retinaface"], choices=["default", "retinaface"])
    args = parser.parse_args()
    import os
    import platform

    import torch

    import facex_core

    if not DATA.is_dir():
        print(f"{DATA}: shared photos not available", file=sys.stderr)
        return 1
    os.environ.setdefault("FACEX_NO_PROGRESS", "1")
    torch.set_num_threads(args.threads)
    images = [facex_core.load_image(DATA / rel) for rel in IMAGES]
    print(f"{len(images)} images ({', '.join(Path(r).name for r in IMAGES)}), {args.runs} runs, "
          f"torch threads {args.threads}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    header = f"{'pipeline':<11} {'detector':>9} {'landmarks':>9} {'align':>7} {'embed':>7} {'img/s':>7} faces  stages"
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.pipelines:
            r = bench(name, images, args.runs, Path(scratch))
            cells = [f"{r['ms'][k]:9.1f}" if r["ms"][k] is not None else f"{'-':>9}" for k in STAGES[:2]]
            cells += [f"{r['ms'][k]:7.1f}" for k in STAGES[2:]]
            chain = " → ".join(r["names"].get(k, "-") for k in STAGES)
            print(f"{name:<11} {' '.join(cells)} {r['images_per_s']:7.2f} {r['faces']:5d}  {chain}")
    print("stage columns: ms per image (median over runs, mean over images); img/s: end to end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
