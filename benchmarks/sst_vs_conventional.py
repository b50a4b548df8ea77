"""Semi-Siamese Training vs conventional training on shallow data (two images per identity).

    python benchmarks/sst_vs_conventional.py                       # the packaged sst_shallow.toml
    python benchmarks/sst_vs_conventional.py --epochs 2 --identities 300   # quicker

Generates the synthetic shallow set of the SST plugin's packaged ``sst_shallow.toml`` (its
``[[prepare]]`` step ``synthetic`` with ``shallow = true``: two images per identity; needs
facex-data-synthetic), then trains MobileFaceNet at 64×64 on it twice, for the same
number of epochs: with the SST mode of that file, and with the conventional mode + ArcFace (the
head that FaceX's ``demo.toml`` uses, scale 32, margin 0.3) and otherwise the same optimiser,
schedule and batch size. It prints the LFW-style 10-fold verification accuracy on the held-out
synthetic identities of the untrained network and of each trained one, with training time.
The data are SYNTHETIC cartoon faces: the figures compare the two methods, they do not predict
accuracy on real faces.
"""
from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

from facex_core import Experiment, apply_overrides, evaluate_experiment, load_toml, registry


def conventional(data: dict) -> dict:
    """The same experiment with the conventional mode and an ArcFace head instead of SST."""
    out = copy.deepcopy(data)
    sst = out["training"]
    out["training"] = {"name": "conventional", "loop": sst["loop"], "optimizer": sst["optimizer"],
                       "schedule": sst["schedule"]}
    out["head"] = {"name": "arcface", "scale": 32.0, "margin": 0.3}
    out["experiment"]["name"] += "_conventional"
    out["experiment"]["output_dir"] += "_conventional"
    return out


def accuracy(exp: Experiment, checkpoint: str, label: str) -> float:
    result = evaluate_experiment(exp, checkpoint, label)
    return next(iter(result.results.values())).metrics["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/sst_vs_conventional", help="folder for data and runs")
    parser.add_argument("--epochs", type=int, help="training epochs of both runs (default: the config's)")
    parser.add_argument("--identities", type=int, help="training identities (default: the config's)")
    parser.add_argument("--sst-epochs", type=int,
                        help="epochs of the SST run only, its LR milestones scaled alike (default: the same "
                             "epochs as conventional); SST takes fewer steps per epoch because the identities "
                             "still in its queue sit out, so this compares the two at equal optimiser steps")
    parser.add_argument("--workers", type=int, default=2, help="loader and generator processes")
    args = parser.parse_args()

    config = registry().packaged_config("sst_shallow.toml")
    if config is None:
        raise SystemExit("sst_shallow.toml is not installed: pip install -e plugins/modes/sst -e plugins/data/synthetic")
    out = Path(args.out)
    sets = [f"experiment.output_dir={out / 'sst'}", f"prepare.0.output={out / 'data'}",
            f"data.root={out / 'data/train/images'}", f"data.train_list={out / 'data/train/train_list.txt'}",
            f"evaluation.protocols.0.pairs_file={out / 'data/test/pairs.txt'}",
            f"evaluation.protocols.0.image_root={out / 'data/test/images'}",
            f"data.num_workers={args.workers}"]
    if args.epochs:
        sets.append(f"training.loop.epochs={args.epochs}")
    if args.identities:
        sets.append(f"prepare.0.train_identities={args.identities}")
    data = apply_overrides(load_toml(config), sets)
    sst_data = copy.deepcopy(data)
    if args.sst_epochs:
        loop, schedule = sst_data["training"]["loop"], sst_data["training"].get("schedule", {})
        factor = args.sst_epochs / loop["epochs"]
        schedule["milestones"] = [max(1, round(m * factor)) for m in schedule.get("milestones", [])]
        loop["epochs"] = args.sst_epochs
    runs = [("SST", Experiment(sst_data, source=f"{config} (sst)")),
            ("conventional + ArcFace", Experiment(conventional(data), source=f"{config} (conventional)"))]
    runs[0][1].prepare_data(workers=args.workers)
    syn = runs[0][1].prepare[0].config
    print(f"data: {syn.train_identities} training identities × {syn.images_per_train_identity} images "
          f"(shallow), {syn.test_identities} test identities, input {runs[0][1].backbone.config.input_size}")

    rows = [("untrained", accuracy(runs[0][1], "none", "untrained"), float("nan"), 0, 0)]
    for label, exp in runs:
        t0 = time.perf_counter()
        result = exp.build_training_mode().run(exp)
        seconds = time.perf_counter() - t0
        rows.append((label, accuracy(exp, "last", label), seconds, result.global_step, result.epochs_done))

    print("\n| model | LFW-style accuracy (synthetic) | training time | steps | epochs |")
    print("|---|---|---|---|---|")
    for label, acc, seconds, steps, epochs in rows:
        when = "–" if seconds != seconds else f"{seconds:.0f} s"
        print(f"| {label} | {100 * acc:.2f} % | {when} | {steps} | {epochs} |")


if __name__ == "__main__":
    main()
