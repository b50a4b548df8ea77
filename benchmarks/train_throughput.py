"""Training throughput on CPU (and CUDA when present): where the time goes, and FaceX vs a plain loop.

    python benchmarks/train_throughput.py                     # MobileFaceNet and ResNet50-IR
    python benchmarks/train_throughput.py --models mobilefacenet --steps 6

For each backbone (+ ArcFace over 10,000 classes, batch 64) it prints images/s of
  * data loading alone, from a JPEG folder and from a packed ``.rec``;
  * the training step alone on in-memory tensors: the plain baseline (eager fp32 NCHW, SGD — how
    FaceX-Zoo trains) and FaceX's best CPU setting (bf16 autocast + channels_last);
  * both together, end to end: the baseline loop reading JPEGs, and the same loop reading the ``.rec``
    with FaceX's best setting (what ``[training.loop] amp = "bf16"``, ``channels_last = true``,
    ``compile = true`` and ``[data] format = "recordio"`` select in the Trainer).
All figures come from the same process, one after the other, so the ratio is like for like.
The data are synthetic faces (``facex_data_synthetic.generate``), packed with ``data pack``.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

import facex_core
from facex_core import EpochSampler, FaceImageDataset
from facex_data_recordio.format import RecordIOFormat
from facex_data_recordio.pack import pack
from facex_data_recordio.plugin import RecordIOConfig
from facex_data_synthetic.generate import generate
from facex_data_synthetic.plugin import SyntheticConfig

CLASSES, BATCH = 10_000, 64


def loader(dataset, workers: int, seed: int = 0) -> DataLoader:
    return DataLoader(dataset, batch_size=BATCH, sampler=EpochSampler(len(dataset), seed, 0), num_workers=workers,
                      drop_last=True, prefetch_factor=4 if workers else None)


def data_rate(dataset, steps: int, workers: int) -> float:
    it = iter(loader(dataset, workers))
    next(it)  # worker start-up
    t0 = time.perf_counter()
    for _ in range(steps):
        next(it)
    return steps * BATCH / (time.perf_counter() - t0)


def build(name: str, channels_last: bool, compile_backbone: bool = False):
    torch.manual_seed(0)
    model = facex_core.FaceModel(facex_core.build("backbone", name),
                                 facex_core.build("head", "arcface", num_classes=CLASSES, embedding_size=512))
    if channels_last:
        model.backbone.to(memory_format=torch.channels_last)
    if compile_backbone:
        model.backbone = torch.compile(model.backbone)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    return model, opt


def step(model, opt, images, labels, bf16: bool, channels_last: bool) -> None:
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = model(images, labels)
    opt.zero_grad(set_to_none=True)
    out.total_loss.float().backward()
    opt.step()


def step_rate(name: str, steps: int, bf16: bool, channels_last: bool) -> float:
    model, opt = build(name, channels_last)
    images, labels = torch.randn(BATCH, 3, 112, 112), torch.randint(0, CLASSES, (BATCH,))
    step(model, opt, images, labels, bf16, channels_last)  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step(model, opt, images, labels, bf16, channels_last)
    return steps * BATCH / (time.perf_counter() - t0)


def baseline_end_to_end(name: str, dataset, steps: int, workers: int) -> float:
    model, opt = build(name, False)
    it = iter(loader(dataset, workers))
    images, labels = next(it)
    step(model, opt, images, labels, False, False)  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        images, labels = next(it)
        step(model, opt, images, labels, False, False)
    return steps * BATCH / (time.perf_counter() - t0)


def facex_end_to_end(name: str, rec: FaceImageDataset, steps: int, workers: int, compile_backbone: bool) -> float:
    """FaceX's best CPU setting, measured exactly like the baseline: .rec data, bf16, channels_last
    (and torch.compile: its one-off compilation happens in the warm-up steps, not timed)."""
    model, opt = build(name, True, compile_backbone)
    it = iter(loader(rec, workers))
    for _ in range(2 if compile_backbone else 1):  # warm-up: oneDNN bf16 kernels, inductor compilation
        images, labels = next(it)
        step(model, opt, images, labels, True, True)
    t0 = time.perf_counter()
    for _ in range(steps):
        images, labels = next(it)
        step(model, opt, images, labels, True, True)
    return steps * BATCH / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=["mobilefacenet", "resnet50_ir"])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-compile", action="store_true", help="leave torch.compile out of the best setting")
    args = ap.parse_args()
    os.environ.setdefault("FACEX_NO_PROGRESS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        syn = generate(SyntheticConfig(
            train_identities=60, train_images_per_identity=16, test_identities=20, test_images_per_identity=2,
            pairs_per_fold=4), tmp / "data", workers=args.workers)
        pack(syn["train_root"], tmp / "rec", train_list=syn["train_list"], workers=args.workers)
        samples = facex_core.read_train_list(syn["train_list"])
        jpeg = FaceImageDataset(syn["train_root"], samples)
        fmt = RecordIOFormat(RecordIOConfig())
        rec = FaceImageDataset(tmp / "rec", fmt.samples(tmp / "rec"), data_format=fmt)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
              f"batch {BATCH}, ArcFace over {CLASSES:,} classes, {args.workers} loader workers")
        print(f"data only: JPEG folder {data_rate(jpeg, args.steps, args.workers):.0f} img/s, "
              f".rec {data_rate(rec, args.steps, args.workers):.0f} img/s")
        print("| backbone | step fp32 NCHW (baseline) | step bf16 + channels_last | end to end: baseline (JPEG) "
              f"| end to end: FaceX (.rec, bf16, channels_last{'' if args.no_compile else ', compile'}) | FaceX / baseline |")
        print("|---|---|---|---|---|---|")
        for name in args.models:
            steps = args.steps if name == "mobilefacenet" else max(1, args.steps // 2)
            s_base = step_rate(name, steps, False, False)
            s_best = step_rate(name, steps, True, True)
            e_base = baseline_end_to_end(name, jpeg, steps, args.workers)
            e_best = facex_end_to_end(name, rec, steps, args.workers, not args.no_compile)
            print(f"| {name} | {s_base:.1f} | {s_best:.1f} | {e_base:.1f} | {e_best:.1f} | {e_best / e_base:.2f}x |",
                  flush=True)


if __name__ == "__main__":
    main()
