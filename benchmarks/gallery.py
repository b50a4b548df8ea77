"""Gallery search at scale (facex_sdk.Gallery) on random unit 512-d embeddings, all measured in one run.

For each gallery size (default 10k, 100k, 1M identities, one random unit vector each) and each index
(``exact``: blocked matrix product; FAISS ``pq``, ``ivf``, ``hnsw`` with the default ``[gallery]``
settings):

* build: ``Gallery.from_embeddings`` plus building the index, seconds;
* memory: the stored embeddings plus the index (its serialised size), MiB; for ``exact`` also the
  peak memory a 64-probe search allocates (tracemalloc), which shows that no probes × gallery
  matrix is formed;
* latency of a search for 1 probe and for 64 probes together (top 5): p50 and p99 over ``--runs``
  searches, milliseconds;
* recall@1: the share of probes whose best identity is exact search's best identity.

Probes are genuine: a gallery identity plus random noise, at cosine ``--cosine`` (default 0.6, a
typical same-person similarity of a face recognizer) to it. Random vectors have no cluster
structure: the worst case for partitioning (``ivf``) and graph (``hnsw``) indexes, which real face
embeddings (identities, demographics) are kinder to; ``pq`` scans compressed codes of every identity
and is not affected. ``hnsw`` is skipped above ``--hnsw-max`` (its build takes ~8 min for 1M on 2 cores).

    python benchmarks/gallery.py [--sizes 10000 100000 1000000] [--indexes exact pq ivf hnsw]
"""
from __future__ import annotations

import argparse
import gc
import time
import tracemalloc

import numpy as np

DIM = 512


def random_units(n: int, seed: int) -> np.ndarray:
    """``n`` random unit float32 vectors, drawn in chunks (no float64 copy of the whole matrix)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 65536):
        block = rng.standard_normal((min(65536, n - start), DIM), dtype=np.float32)
        out[start:start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def genuine_probes(gallery: np.ndarray, count: int, cosine: float, seed: int) -> np.ndarray:
    """``count`` probes, each a random gallery row plus orthogonal noise at ``cosine`` to it."""
    rng = np.random.default_rng(seed)
    rows = gallery[rng.choice(len(gallery), count, replace=False)].astype(np.float64)
    noise = rng.standard_normal((count, DIM))
    noise -= (noise * rows).sum(1, keepdims=True) * rows
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    return (cosine * rows + np.sqrt(1 - cosine ** 2) * noise).astype(np.float32)


def latencies(search, probes: np.ndarray, batch: int, runs: int) -> tuple[float, float]:
    """p50 and p99 milliseconds of ``search`` on ``batch`` probes at a time (cycling through them)."""
    times = []
    for r in range(runs):
        start = (r * batch) % (len(probes) - batch + 1)
        t0 = time.perf_counter()
        search(probes[start:start + batch])
        times.append(time.perf_counter() - t0)
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 99) * 1e3)


def measure(n: int, kind: str, matrix: np.ndarray, probes: np.ndarray, truth: np.ndarray, runs: int,
            runs64: int) -> dict:
    from facex_sdk import Gallery, GalleryConfig

    names = [f"id{i:07d}" for i in range(n)]
    t0 = time.perf_counter()
    gallery = Gallery.from_embeddings(names, matrix, config=GalleryConfig(index=kind))
    index = gallery.index()
    build = time.perf_counter() - t0
    index_mib = 0.0 if index is None else len(index.to_bytes()) / 2 ** 20
    search = lambda p: gallery.top_k(p, 5)  # noqa: E731
    search(probes[:64])  # warm-up
    one = latencies(search, probes, 1, runs)
    many = latencies(search, probes, 64, runs64)
    found = np.concatenate([search(probes[i:i + 64])[1][:, 0] for i in range(0, len(probes), 64)])
    row = {"n": n, "index": kind, "build_s": build, "memory_mib": gallery.embeddings.nbytes / 2 ** 20 + index_mib,
           "index_mib": index_mib, "p50_1": one[0], "p99_1": one[1], "p50_64": many[0], "p99_64": many[1],
           "recall": float(np.mean(found == truth)), "search_peak_mib": None}
    if kind == "exact":
        tracemalloc.start()
        search(probes[:64])
        row["search_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2 ** 20
        tracemalloc.stop()
    del gallery, index
    gc.collect()
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--indexes", nargs="+", default=["exact", "pq", "ivf", "hnsw"])
    p.add_argument("--hnsw-max", type=int, default=100_000, help="skip hnsw for larger galleries")
    p.add_argument("--cosine", type=float, default=0.6, help="probe-to-identity cosine of the genuine probes")
    p.add_argument("--probes", type=int, default=256, help="probes for recall@1 (a multiple of 64)")
    p.add_argument("--runs", type=int, default=100, help="1-probe searches timed")
    p.add_argument("--runs64", type=int, default=20, help="64-probe searches timed")
    args = p.parse_args()
    import faiss

    rows = []
    print(f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} OpenMP threads; numpy {np.__version__}",
          flush=True)
    for n in args.sizes:
        matrix = random_units(n, seed=n)
        probes = genuine_probes(matrix, args.probes, args.cosine, seed=n + 1)
        from facex_sdk.search import exact_top_k

        truth = exact_top_k(matrix, probes, 1)[1][:, 0]
        for kind in args.indexes:
            if kind == "hnsw" and n > args.hnsw_max:
                continue
            row = measure(n, kind, matrix, probes, truth, args.runs, args.runs64)
            rows.append(row)
            print(f"{n:>9,} {kind:5}  build {row['build_s']:7.1f} s  memory {row['memory_mib']:7.0f} MiB  "
                  f"1 probe p50 {row['p50_1']:8.2f} p99 {row['p99_1']:8.2f} ms  64 probes p50 {row['p50_64']:8.1f} "
                  f"p99 {row['p99_64']:8.1f} ms  recall@1 {row['recall']:.3f}"
                  + (f"  search peak {row['search_peak_mib']:.0f} MiB" if row["search_peak_mib"] is not None else ""),
                  flush=True)
        del matrix
        gc.collect()
    print("\n| identities | index | build | memory (index) | 1 probe p50 / p99 | 64 probes p50 / p99 | recall@1 | "
          "speed-up (1 probe p50) |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        exact = next(r for r in rows if r["n"] == row["n"] and r["index"] == "exact")
        print(f"| {row['n']:,} | {row['index']} | {row['build_s']:.1f} s | {row['memory_mib']:,.0f} MiB "
              f"({row['index_mib']:,.0f}) | "
              f"{row['p50_1']:.2f} / {row['p99_1']:.2f} ms | {row['p50_64']:.1f} / {row['p99_64']:.1f} ms | "
              f"{row['recall']:.3f} | {exact['p50_1'] / row['p50_1']:.1f}× |")


if __name__ == "__main__":
    main()
