"""Step time and peak memory of ArcFace with full FC vs Partial FC (r = 0.1).

    python benchmarks/heads.py                         # 100k and 1M classes, D=512, batch 128, CPU
    python benchmarks/heads.py --classes 100000 --steps 3

Each configuration runs in a fresh process so its peak resident memory (ru_maxrss) is its own;
the figure printed is the peak minus the process's resident size just before the head is built.
A step is forward + backward + SGD (momentum) update of the head alone, on random embeddings.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def run_one(classes: int, rate: float, dim: int, batch: int, steps: int, device: str) -> dict:
    import torch

    import facex_core

    torch.manual_seed(0)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    head = facex_core.build("head", "arcface", num_classes=classes, embedding_size=dim,
                            classifier={"sample_rate": rate}).to(device)
    opt = torch.optim.SGD(head.parameters(), lr=0.1, momentum=0.9)
    emb = torch.randn(batch, dim, device=device)
    labels = torch.randint(0, classes, (batch,), device=device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(steps + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = head(emb, labels)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        if i:  # the first step allocates gradients and momentum buffers
            times.append(time.perf_counter() - t0)
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device == "cuda"
            else (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss) / 1024)
    return {"classes": classes, "rate": rate, "ms": 1000 * statistics.median(times), "peak_mib": peak,
            "device": device}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        classes, rate, device = json.loads(args.one)
        print(json.dumps(run_one(classes, rate, args.dim, args.batch, args.steps, device)))
        return
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"ArcFace head step (fwd+bwd+SGD), D={args.dim}, batch {args.batch}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads")
    print("| device | classes | full FC ms/step | Partial FC r=0.1 ms/step | speed-up | full FC peak MiB | PFC peak MiB |")
    print("|---|---|---|---|---|---|---|")
    for device in devices:
        for classes in args.classes:
            res = {}
            for rate in (1.0, 0.1):
                out = subprocess.run([sys.executable, __file__, "--one", json.dumps([classes, rate, device]),
                                      "--dim", str(args.dim), "--batch", str(args.batch), "--steps", str(args.steps)],
                                     capture_output=True, text=True, check=True)
                res[rate] = json.loads(out.stdout.strip().splitlines()[-1])
            full, pfc = res[1.0], res[0.1]
            print(f"| {device} | {classes:,} | {full['ms']:.1f} | {pfc['ms']:.1f} | {full['ms'] / pfc['ms']:.1f}x | "
                  f"{full['peak_mib']:.0f} | {pfc['peak_mib']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
