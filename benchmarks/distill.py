"""Knowledge distillation on synthetic faces: a teacher, the student alone, the student distilled.

    python benchmarks/distill.py                                  # the packaged distill*.toml settings
    python benchmarks/distill.py --methods soft_target,adadistill --student-epochs 2   # quicker

Uses the distill plugin's packaged configs (``distill_teacher.toml``, ``distill.toml``; needs
facex-mode-distill, facex-data-synthetic, facex-protocol-lfw, the MobileFaceNet/IResNet backbones, the
ArcFace head and the distill_loss plugins named below):

1. generates their synthetic data set (``[[prepare]] synthetic``: cartoon identities, 64×64 input);
2. trains the TEACHER (IResNet with one block per stage, ArcFace, conventional mode) — or reuses its
   ``last.pt`` from an earlier run in the same ``--out`` folder;
3. trains the STUDENT (MobileFaceNet, ArcFace) with the conventional mode, and once per distillation
   method with the distill mode from that teacher, every student with the same seed (the same initial
   weights), data order, optimiser, schedule and number of steps;
4. prints the LFW-style 10-fold verification accuracy on the held-out synthetic identities of each.

The data are SYNTHETIC cartoon faces: the figures compare the methods at a small budget on one data
set and one seed; they say nothing about accuracy on real faces.
"""
from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

from facex_core import Experiment, apply_overrides, evaluate_experiment, load_toml, registry

#: One distillation term per method, as its ``[[training.losses]]`` table, and the mode's head weight.
#: The weights put each term on the scale of the ArcFace loss at the start of training (not tuned further).
METHODS = {
    "soft_target": ({"name": "soft_target", "weight": 1.0, "student": "logits", "options": {"T": 4.0}}, 1.0),
    "pkt": ({"name": "pkt", "weight": 100.0, "student": "embeddings"}, 1.0),
    "rkd": ({"name": "rkd", "weight": 1.0, "student": "embeddings"}, 1.0),
    "fitnet": ({"name": "fitnet", "weight": 1.0, "student": "stage:stage4", "adapter": "always"}, 1.0),
    "nst": ({"name": "nst", "weight": 10.0, "student": "stage:stage3"}, 1.0),
    # AdaDistill as its paper trains: its margin softmax against the teacher-driven centres replaces the
    # head's loss (head_weight 0); scale and margin as the student's ArcFace head here (32, 0.3)
    "adadistill": ({"name": "adadistill", "weight": 1.0, "student": "embeddings",
                    "options": {"scale": 32.0, "margin": 0.3}}, 0.0),
}


def packaged(name: str) -> str:
    path = registry().packaged_config(name)
    if path is None:
        raise SystemExit(f"{name} is not installed: pip install -e plugins/modes/distill (and its [test] extra)")
    return path


def accuracy(exp: Experiment, label: str) -> float:
    result = evaluate_experiment(exp, "last", label)
    return next(iter(result.results.values())).metrics["accuracy"]


def million_params(exp: Experiment) -> float:
    return sum(p.numel() for p in exp.build_backbone().parameters()) / 1e6


def timed(exp: Experiment) -> tuple[float, int]:
    t0 = time.perf_counter()
    result = exp.build_training_mode().run(exp)
    return time.perf_counter() - t0, result.global_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/distill_benchmark", help="folder for data and runs")
    parser.add_argument("--methods", default="soft_target,pkt,adadistill",
                        help=f"comma-separated distillation methods among {', '.join(METHODS)}")
    parser.add_argument("--student-epochs", type=int, help="epochs of every student (default: distill.toml's)")
    parser.add_argument("--teacher-epochs", type=int, help="epochs of the teacher (default: distill_teacher.toml's)")
    parser.add_argument("--identities", type=int, help="training identities (default: the configs')")
    parser.add_argument("--workers", type=int, default=2, help="loader and generator processes")
    args = parser.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise SystemExit(f"unknown method {unknown[0]!r}; choose among {', '.join(METHODS)}")

    out = Path(args.out)
    data = [f"prepare.0.output={out / 'data'}", f"data.root={out / 'data/train/images'}",
            f"data.train_list={out / 'data/train/train_list.txt'}",
            f"evaluation.protocols.0.pairs_file={out / 'data/test/pairs.txt'}",
            f"evaluation.protocols.0.image_root={out / 'data/test/images'}", f"data.num_workers={args.workers}"]
    if args.identities:
        data.append(f"prepare.0.train_identities={args.identities}")
    teacher_sets = data + [f"experiment.output_dir={out / 'teacher'}"]
    if args.teacher_epochs:
        teacher_sets.append(f"training.loop.epochs={args.teacher_epochs}")
    teacher = Experiment(apply_overrides(load_toml(packaged("distill_teacher.toml")), teacher_sets),
                         source="distill_teacher.toml (benchmark)")
    teacher.prepare_data(workers=args.workers)
    syn = teacher.prepare[0].config
    print(f"data: {syn.train_identities} training identities × {syn.images_per_train_identity} images, "
          f"{syn.test_identities} test identities, input {teacher.backbone.config.input_size}", flush=True)

    ckpt = out / "teacher" / "checkpoints" / "last.pt"
    if ckpt.exists():
        print(f"teacher: reusing {ckpt}", flush=True)
        t_seconds, t_steps = float("nan"), 0
    else:
        print(f"teacher: training {teacher.backbone.name} ...", flush=True)
        t_seconds, t_steps = timed(teacher)

    student_sets = data + [f"training.teacher={ckpt}"]
    if args.student_epochs:
        student_sets.append(f"training.loop.epochs={args.student_epochs}")
    base = apply_overrides(load_toml(packaged("distill.toml")), student_sets)
    plain = copy.deepcopy(base)
    plain["training"] = {"name": "conventional", **{k: base["training"][k] for k in ("loop", "optimizer", "schedule")
                                                    if k in base["training"]}}
    runs = [("student alone (conventional)", plain, "alone")]
    for method in methods:
        term, head_weight = METHODS[method]
        cfg = copy.deepcopy(base)
        cfg["training"]["losses"] = [copy.deepcopy(term)]
        cfg["training"]["head_weight"] = head_weight
        runs.append((f"student + {method}", cfg, method))

    rows = [(f"teacher ({teacher.backbone.name}, {million_params(teacher):.2f} M)", accuracy(teacher, "teacher"),
             t_seconds, t_steps)]
    for label, cfg, name in runs:
        cfg["experiment"]["output_dir"] = str(out / name)
        exp = Experiment(cfg, source=f"distill.toml (benchmark: {name})")
        exp.overwrite = True
        print(f"{label}: training ...", flush=True)
        seconds, steps = timed(exp)
        if name == "alone":
            label = f"student alone ({exp.backbone.name}, {million_params(exp):.2f} M)"
        rows.append((label, accuracy(exp, name), seconds, steps))

    print("\n| model | LFW-style accuracy (synthetic) | training time | steps |")
    print("|---|---|---|---|")
    for label, acc, seconds, steps in rows:
        when = "(reused)" if seconds != seconds else f"{seconds:.0f} s"
        print(f"| {label} | {100 * acc:.2f} % | {when} | {steps or '–'} |")


if __name__ == "__main__":
    main()
