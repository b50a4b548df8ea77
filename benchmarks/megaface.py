"""MegaFace evaluation speed and memory: 3,530 probes x 1,000,000 distractors x 512-d, ranks 1..10.

Runs the real ``megaface`` protocol (devkit JSON lists written to a temporary folder) on random unit
float32 features and prints its wall time and its peak resident memory beyond the features
themselves. Next to it, as the roofline, the time of the plain dense product of the same size:
one 3,530 x 512 @ 512 x 65,536 block, timed and extrapolated (the full 14 GB score matrix is never
allocated). Targets: < 2 min and < 4 GB extra on 2 cores.

    python benchmarks/megaface.py                        # the full 1M set (a minute or two)
    python benchmarks/megaface.py --distractors 100000   # a quick run
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

import facex_core

PROBES, IDENTITIES, DIM, BLOCK = 3530, 80, 512, 65536


def rss_bytes(field: str) -> int:
    """A memory figure of this process from /proc (VmRSS = now, VmHWM = peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak() -> None:
    """Make VmHWM start again from the current RSS (Linux >= 4.0)."""
    Path("/proc/self/clear_refs").write_text("5")


def unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def dense_block_seconds(rng: np.random.Generator) -> float:
    """Best of 3 timings of one probes x 65,536 float32 product."""
    a, b = unit_rows(rng, PROBES), unit_rows(rng, BLOCK)
    out = np.empty((PROBES, BLOCK), dtype=np.float32)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        np.matmul(a, b.T, out=out)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--distractors", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, default=65536)
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    with tempfile.TemporaryDirectory() as tmp:
        probe_paths = [f"P{i % IDENTITIES:02d}/P{i % IDENTITIES:02d}_{i}.png" for i in range(PROBES)]
        probe_ids = [p.split("/")[0] for p in probe_paths]
        distractor_paths = [f"{i % 1000:03d}/{i}@N00/{i}_0.jpg" for i in range(args.distractors)]
        Path(tmp, "facescrub.json").write_text(json.dumps({"path": probe_paths, "id": probe_ids}))
        Path(tmp, "megaface.json").write_text(json.dumps({"path": distractor_paths}))
        del distractor_paths
        protocol = facex_core.build("protocol", "megaface", facescrub_list=str(Path(tmp, "facescrub.json")),
                                    megaface_list=str(Path(tmp, "megaface.json")), image_root=tmp,
                                    max_rank=10, chunk_size=args.chunk_size)
        keys = protocol.images()

        # The features as the engine hands them over: one float32 matrix, a dict of row views.
        matrix = unit_rows(rng, len(keys))
        features = dict(zip(keys, matrix))
        block = dense_block_seconds(rng)

        before = rss_bytes("VmRSS")
        reset_peak()
        t0 = time.perf_counter()
        result = protocol.evaluate(features)
        seconds = time.perf_counter() - t0
        extra = rss_bytes("VmHWM") - before

    n = args.distractors
    roofline = block * n / BLOCK
    print(f"MegaFace {PROBES} probes x {n:,} distractors x {DIM}-d, ranks 1..10, "
          f"chunk {args.chunk_size:,}, protocol megaface")
    print(f"features          {matrix.nbytes / 2**30:6.2f} GiB (not counted below)")
    print(f"evaluate          {seconds:6.1f} s    peak RSS beyond the features {extra / 2**30:5.2f} GiB"
          f"   (targets < 120 s, < 4 GiB)")
    print(f"dense matmul      {roofline:6.1f} s    (roofline: one {PROBES}x{DIM} @ {DIM}x{BLOCK:,} block "
          f"= {block:.2f} s, x {n / BLOCK:.2f}; {2 * PROBES * DIM * BLOCK / block / 1e9:.0f} GFLOP/s)")
    print(f"overhead          {seconds / roofline:6.2f} x the roofline")
    print("rank-1 {:.4f}  rank-10 {:.4f}  ".format(result.metrics["rank-1"], result.metrics["rank-10"])
          + "  ".join(f"{k} {v:.4f}" for k, v in result.metrics.items() if k.startswith("tar@")))


if __name__ == "__main__":
    main()
