"""JPEG decoding in the training loader: OpenCV (what FaceX uses) against ``torchvision.io.decode_jpeg``.

    python benchmarks/decode.py                  # 960 synthetic 112×112 JPEG crops, 3 rounds
    python benchmarks/decode.py --images 2000 --rounds 5

Prints images/s, in one process, one after the other, of
  * decoding alone: ``facex_core.load_image`` (file → ``cv2.imdecode`` → BGR H×W×3) against
    ``torchvision.io.read_file`` + ``decode_jpeg`` (→ RGB 3×H×W tensor), and against decode_jpeg plus
    the BGR H×W×3 copy that the loader's flip, augmentation and preprocessing work on;
  * a whole training sample (decode + flip + preprocess to the normalised 3×112×112 tensor), i.e.
    ``FaceImageDataset.__getitem__`` with its decoder swapped;
  * the batched ``decode_jpeg(list)`` call.
One thread each (``torch.set_num_threads(1)``, ``cv2.setNumThreads(1)``), as in a loader worker. The
crops are ``facex_data_synthetic``'s synthetic faces at its default quality 95. torchvision is not a
FaceX dependency (this benchmark is why): ``pip install torchvision`` matching your torch to run it.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from facex_core import FaceImageDataset, load_image
from facex_data_synthetic.generate import generate
from facex_data_synthetic.plugin import SyntheticConfig


def rate(fn, items: list, rounds: int) -> float:
    """Best images/s over ``rounds`` passes of ``fn`` over ``items`` (after one warm-up pass)."""
    for item in items[:32]:
        fn(item)
    best = 0.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        for item in items:
            fn(item)
        best = max(best, len(items) / (time.perf_counter() - t0))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=960)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from torchvision.io import ImageReadMode, decode_jpeg, read_file

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    os.environ.setdefault("FACEX_NO_PROGRESS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        per_id = 16
        generate(SyntheticConfig(train_identities=max(2, args.images // per_id), train_images_per_identity=per_id,
                                 test_identities=2, test_images_per_identity=2, pairs_per_fold=2, folds=1),
                 tmp, workers=0)
        root = Path(tmp) / "train" / "images"
        paths = sorted(root.rglob("*.jpg"))[:args.images]

        def tv_rgb(path: Path) -> torch.Tensor:
            return decode_jpeg(read_file(str(path)), mode=ImageReadMode.RGB)

        def tv_bgr(path: Path) -> np.ndarray:  # what the loader's numpy stages (flip, augment, Preprocess) take
            return np.ascontiguousarray(tv_rgb(path).permute(1, 2, 0).numpy()[:, :, ::-1])

        a, b = load_image(paths[0]), tv_bgr(paths[0])
        diff = np.abs(a.astype(int) - b.astype(int))
        samples = [(str(p.relative_to(root)), 0) for p in paths]
        opencv_set = FaceImageDataset(root, samples, flip=True)
        tv_set = FaceImageDataset(root, samples, flip=True)
        tv_set.read = lambda index: tv_bgr(root / samples[index][0])  # the same sample, decoded by torchvision
        keys = [(i, i) for i in range(len(samples))]  # odd seeds flip
        raw = [read_file(str(p)) for p in paths]
        rows = [
            ("decode: OpenCV load_image (BGR HxWx3)", rate(load_image, paths, args.rounds)),
            ("decode: torchvision decode_jpeg (RGB 3xHxW)", rate(tv_rgb, paths, args.rounds)),
            ("decode: torchvision + BGR HxWx3 copy", rate(tv_bgr, paths, args.rounds)),
            ("sample: OpenCV (decode+flip+preprocess)", rate(opencv_set.__getitem__, keys, args.rounds)),
            ("sample: torchvision (decode+flip+preprocess)", rate(tv_set.__getitem__, keys, args.rounds)),
        ]
        t0 = time.perf_counter()
        for i in range(0, len(raw), 64):
            decode_jpeg(raw[i:i + 64], mode=ImageReadMode.RGB)
        rows.append(("decode: torchvision batched decode_jpeg(list of 64), bytes in memory",
                     len(raw) / (time.perf_counter() - t0)))
        rows.append(("decode: OpenCV imdecode, bytes in memory",
                     rate(lambda t: cv2.imdecode(t.numpy(), cv2.IMREAD_COLOR), raw, args.rounds)))
    import torchvision

    print(f"{len(paths)} synthetic {a.shape[1]}x{a.shape[0]} JPEG crops; torch {torch.__version__}, torchvision "
          f"{torchvision.__version__}, OpenCV {cv2.__version__}; 1 thread; best of {args.rounds}")
    print(f"pixels: OpenCV vs torchvision differ by at most {diff.max()} (mean {diff.mean():.3f}) grey levels")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:9.0f} images/s")


if __name__ == "__main__":
    main()
