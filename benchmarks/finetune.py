"""Fine-tuning vs training from scratch on a small data set of new identities (conventional mode).

    python benchmarks/finetune.py                          # minutes on 2 idle CPU cores
    python benchmarks/finetune.py --budgets 15,30 --pretrain-epochs 1   # a quick look

Two SYNTHETIC identity sets (facex-data-synthetic) drawn with different seeds, so no identity is in
both: set A (``--a-identities`` × 20 images) to pre-train on, set B (``--b-identities`` × 10 images,
plus 120 held-out test identities in 600 LFW-style pairs) to learn. MobileFaceNet at 64×64 + ArcFace
(s 32, m 0.3), SGD lr 0.1, batch 64, as FaceX's demo. The script pre-trains on A, then trains on B
twice for the same optimiser steps: from scratch, and from A's checkpoint with ``[training] init``
(backbone loaded strictly; ``init_ignore = ["head"]``: B's identities are other people, so the head
starts afresh), its backbone at ``--backbone-lr-mult`` of the rate. It prints the held-out accuracy of both runs after
each step budget, and the steps each run needs to reach the scratch run's final accuracy. The data are
cartoon faces: the figures show the mechanism working, they do not predict accuracy on real faces.
"""
from __future__ import annotations

import argparse
import copy
import math
import time
from pathlib import Path
from typing import Any

from facex_core import Experiment, evaluate_experiment


def synthetic(output: Path, seed: int, identities: int, images: int, test: bool) -> dict[str, Any]:
    """A ``[[prepare]]`` table; without ``test`` the held-out part is the smallest the generator allows."""
    sizes = {"test_identities": 120, "test_images_per_identity": 4, "pairs_per_fold": 60, "folds": 10} if test else \
        {"test_identities": 2, "test_images_per_identity": 2, "pairs_per_fold": 2, "folds": 1}
    return {"name": "synthetic", "output": str(output), "seed": seed, "train_identities": identities,
            "train_images_per_identity": images, **sizes}


def config(out: Path, name: str, data: Path, epochs: int, milestones: list[int], workers: int) -> dict[str, Any]:
    return {
        "experiment": {"name": name, "output_dir": str(out / name), "seed": 0},
        "data": {"format": "train_list", "root": str(data / "train/images"),
                 "train_list": str(data / "train/train_list.txt"), "num_workers": workers},
        "backbone": {"name": "mobilefacenet", "embedding_size": 512, "input_size": [64, 64]},
        "head": {"name": "arcface", "scale": 32.0, "margin": 0.3},
        "training": {"name": "conventional",
                     "loop": {"epochs": epochs, "batch_size": 64, "checkpoint_every": 100000, "log_every": 10},
                     "optimizer": {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4},
                     "schedule": {"milestones": milestones}},
        "evaluation": {"checkpoint": "last", "batch_size": 128, "flip": "sum", "cache": False, "num_workers": 0,
                       "protocols": [{"name": "lfw", "pairs_file": str(out / "data_b/test/pairs.txt"),
                                      "image_root": str(out / "data_b/test/images")}]},
    }


def accuracy(exp: Experiment, checkpoint: str, label: str) -> float:
    return next(iter(evaluate_experiment(exp, checkpoint, label).results.values())).metrics["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/finetune", help="folder for data and runs")
    parser.add_argument("--a-identities", type=int, default=200, help="identities of the pre-training set A")
    parser.add_argument("--b-identities", type=int, default=100, help="identities of the fine-tuning set B")
    parser.add_argument("--pretrain-epochs", type=int, default=3, help="epochs on A (LR ×0.1 for the last one)")
    parser.add_argument("--budgets", default="15,30,60,120", help="optimiser steps on B after which both runs are "
                                                                  "evaluated (comma-separated, increasing)")
    parser.add_argument("--backbone-lr-mult", type=float, default=0.1, help="fine-tuning: backbone LR multiplier")
    parser.add_argument("--freeze-backbone-steps", type=int, default=0, help="fine-tuning: head-only steps first")
    parser.add_argument("--workers", type=int, default=2, help="loader and generator processes")
    args = parser.parse_args()
    out = Path(args.out)
    budgets = [int(b) for b in args.budgets.split(",")]

    milestones = [args.pretrain_epochs - 1] if args.pretrain_epochs > 1 else []
    pre = config(out, "pretrain_a", out / "data_a", args.pretrain_epochs, milestones, args.workers)
    pre["prepare"] = [synthetic(out / "data_a", 1, args.a_identities, 20, test=False),
                      synthetic(out / "data_b", 0, args.b_identities, 10, test=True)]
    pretrain = Experiment(pre, source="finetune benchmark (pre-training on A)")
    pretrain.prepare_data(workers=args.workers)
    init = out / "pretrain_a" / "checkpoints" / "last.pt"
    t0 = time.perf_counter()
    if not init.exists():
        pretrain.build_training_mode().run(pretrain)
    print(f"pre-trained on A ({args.a_identities} identities × 20 images, {args.pretrain_epochs} epochs) in "
          f"{time.perf_counter() - t0:.0f} s -> {init}")

    steps_per_epoch = args.b_identities * 10 // 64
    epochs = math.ceil(budgets[-1] / steps_per_epoch)
    # B's identities are other people than A's: A's class centres are left out even where the counts match
    finetune_settings = {"init": str(init), "init_ignore": ["head"], "backbone_lr_mult": args.backbone_lr_mult,
                         "freeze_backbone_steps": args.freeze_backbone_steps}
    runs = {"from scratch": {}, "fine-tuned from A": finetune_settings}
    curves: dict[str, list[float]] = {}
    seconds: dict[str, float] = {}
    for label, extra in runs.items():
        data = config(out, "scratch_b" if not extra else "finetune_b", out / "data_b", epochs, [], args.workers)
        data["training"].update(extra)
        start = Experiment(data, source=f"finetune benchmark ({label})")
        curves[label] = [accuracy(start, "none" if not extra else str(init), f"{label} step 0")]
        seconds[label] = 0.0
        for i, budget in enumerate(budgets):
            stage = copy.deepcopy(data)
            stage["training"]["loop"]["max_steps"] = budget
            exp = Experiment(stage, source=f"finetune benchmark ({label}, {budget} steps)")
            exp.overwrite = i == 0
            t0 = time.perf_counter()
            result = exp.build_training_mode().run(exp, resume=i > 0)
            seconds[label] += time.perf_counter() - t0
            assert result.global_step == budget, result
            curves[label].append(accuracy(exp, "last", f"{label} {budget} steps"))
            print(f"{label}: {budget} steps, accuracy {100 * curves[label][-1]:.2f} %", flush=True)

    print(f"\nB: {args.b_identities} new identities × 10 images ({steps_per_epoch} steps of 64 per epoch); "
          "LFW-style accuracy on 120 held-out identities (600 pairs), synthetic faces\n")
    print("| optimiser steps on B | images seen | " + " | ".join(runs) + " |")
    print("|---|---|" + "---|" * len(runs))
    for i, steps in enumerate([0, *budgets]):
        print(f"| {steps} | {steps * 64:,} | " + " | ".join(f"{100 * curves[r][i]:.2f} %" for r in runs) + " |")
    print("| training time | | " + " | ".join(f"{seconds[r]:.0f} s" for r in runs) + " |")
    target = curves["from scratch"][-1]
    reached = {r: next((s for s, a in zip([0, *budgets], curves[r]) if a >= target), None) for r in runs}
    print(f"\nsteps to reach the scratch run's {budgets[-1]}-step accuracy ({100 * target:.2f} %): "
          + ", ".join(f"{r} {reached[r] if reached[r] is not None else '>' + str(budgets[-1])}" for r in runs))


if __name__ == "__main__":
    main()
