"""Params, MACs and forward+backward throughput of every installed backbone.

    python benchmarks/backbones.py                      # all backbones, CPU (and CUDA when present)
    python benchmarks/backbones.py --names mobilefacenet resnet50_ir --batch 32 --iters 3

Prints one Markdown table. Throughput is images/s of a full training step of the backbone alone
(forward, a dummy loss, backward) at the given batch, median over ``--iters`` timed steps after
one warm-up; CPU uses all of torch's threads (2 on the reference machine).
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import torch

import facex_core
from facex_core.testing import installed


def step_rate(model: torch.nn.Module, batch: int, iters: int, device: str) -> float:
    model.to(device).train()
    x = torch.randn(batch, 3, *model.input_size, device=device)
    times = []
    for i in range(iters + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        model(x).square().mean().backward()
        if device == "cuda":
            torch.cuda.synchronize()
        if i:  # the first step is a warm-up (allocator, kernel selection)
            times.append(time.perf_counter() - t0)
        model.zero_grad(set_to_none=True)
    return batch / statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--names", nargs="*", help="backbones to measure (default: all installed)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--iters", type=int, default=2)
    ap.add_argument("--no-speed", action="store_true", help="only params and MACs")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    names = args.names or installed("backbone")
    gpu = torch.cuda.is_available()
    head = "| backbone | input | params (M) | MACs (G) | CPU img/s (fwd+bwd, batch %d) |" % args.batch
    head += " GPU img/s |" if gpu else ""
    if not args.one:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
              + (f", {torch.cuda.get_device_name()}" if gpu else ", no GPU"))
        print(head)
        print("|---|---|---|---|---|" + ("---|" if gpu else ""))
    for name in names:
        if args.one:
            print(row_for(name, args, gpu), flush=True)
            continue
        # one process per backbone: a network that exhausts memory (the kernel's OOM killer cannot
        # be caught) costs its own row, not the rest of the table
        cmd = [sys.executable, __file__, "--one", "--names", name, "--batch", str(args.batch), "--iters", str(args.iters)]
        cmd += ["--no-speed"] if args.no_speed else []
        out = subprocess.run(cmd, capture_output=True, text=True)
        rows = [l for l in out.stdout.splitlines() if l.startswith(f"| {name} |")]
        print(rows[-1] if rows else f"| {name} | – | – | – | failed (exit {out.returncode}: "
              f"{'killed, out of memory?' if out.returncode in (-9, 137) else out.stderr.strip().splitlines()[-1:]}) |",
              flush=True)


def row_for(name: str, args: argparse.Namespace, gpu: bool) -> str:
    model = facex_core.build("backbone", name)
    info = facex_core.count_params_and_macs(model)
    h, w = model.input_size
    row = f"| {name} | {h}x{w} | {info['params'] / 1e6:.3f} | {info['macs'] / 1e9:.3f} |"
    if args.no_speed:
        row += " – |"
    else:
        row += f" {step_rate(model, args.batch, args.iters, 'cpu'):.1f} |"
    if gpu:
        row += f" {step_rate(model, args.batch, max(args.iters, 5), 'cuda'):.1f} |"
    return row


if __name__ == "__main__":
    main()
