"""TRANSITIONAL: `data synth` and `demo` (moving to the synthetic data plugin)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..cli.commands import add_set_option


def setup_data_synth(ds: argparse.ArgumentParser) -> None:
    ds.add_argument("out")
    add_set_option(ds)
    ds.add_argument("--workers", type=int, default=2)
    ds.set_defaults(func=cmd_data_synth)


def setup_demo(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("config", nargs="?", help="experiment config, or the name of a packaged one")
    add_set_option(sp)
    sp.add_argument("--workers", type=int, default=2)
    sp.add_argument("--resume", action="store_true")
    sp.add_argument("--masked", action="store_true")
    sp.add_argument("--mask-set", action="append", default=[], metavar="KEY.PATH=VALUE")
    sp.set_defaults(func=cmd_demo)


def demo_config(name: str) -> str:
    """``name`` itself when it is a file, else the packaged config of that name (demo.toml,
    demo_masked.toml, sst_shallow.toml) when there is one, else ``name`` (the loader then names it)."""
    packaged = Path(__file__).parents[1] / "_templates" / name
    if not Path(name).is_file() and Path(name).name == name and packaged.is_file():
        return str(packaged)
    return name


def cmd_demo(args: argparse.Namespace) -> int:
    import time

    from ..engine.experiment import Experiment

    config = demo_config(args.config or ("demo_masked.toml" if args.masked else "demo.toml"))
    exp = Experiment.from_file(config, args.set)
    t0 = time.perf_counter()
    steps = 4 if args.masked else 3
    print(f"[1/{steps}] synthetic data -> {exp.synthetic_output}  (SYNTHETIC cartoon faces: a smoke test, not a benchmark)")
    exp.prepare_synthetic(workers=args.workers)
    if args.masked:
        from ..apps.mask_cli import build_adder, prepare_masked_demo

        print(f"[2/{steps}] masks: training set original + masked (data mask --mode both), test pairs with "
              "the second image masked")
        prepare_masked_demo(exp, build_adder(None, args.mask_set), workers=args.workers)
    head = f" + {exp.head.name}" if exp.head is not None else ""
    print(f"[{steps - 1}/{steps}] training {exp.backbone.name}{head} ({exp.training.name})")
    result = exp.build_training_mode().run(exp, resume=args.resume)
    print(f"      {result.global_step} steps, {result.images_per_s:.1f} images/s, last loss {result.loss:.3f}")
    print(f"[{steps}/{steps}] evaluating untrained vs trained on the synthetic LFW-style pairs"
          + (" (unmasked, and one side masked)" if args.masked else ""))
    from ..engine.evaluate import evaluate_experiment, markdown_table, write_report

    models = [evaluate_experiment(exp, "none", "untrained"),
              evaluate_experiment(exp, "last", "trained")]
    files = write_report(models, exp.output_dir / "eval")
    print()
    print(markdown_table(models), end="")
    protocols = list(models[0].results) if args.masked else [next(iter(models[0].results))]
    for key, what in zip(protocols, ("", "one side masked: ")):
        accs = [m.results[key].metrics.get("accuracy", float("nan")) for m in models]
        print(f"\n{what}untrained {100 * accs[0]:.2f}%  ->  trained {100 * accs[1]:.2f}%  "
              f"(+{100 * (accs[1] - accs[0]):.2f} points)", end="")
    print(f" in {time.perf_counter() - t0:.0f} s")
    print("results: " + ", ".join(str(p) for p in files.values()))
    return 0


# -- data ------------------------------------------------------------------------------------


def cmd_data_synth(args: argparse.Namespace) -> int:
    from ..configs.toml import apply_overrides, structure
    from ..runtime.progress import Progress
    from ..apps.synthetic import SyntheticConfig, generate

    cfg = structure(SyntheticConfig, apply_overrides({}, args.set), path="synthetic", source="--set")
    bar = Progress(None, desc="render", unit="img")

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    info = generate(cfg, Path(args.out), workers=args.workers, progress=progress)
    bar.close()
    print(json.dumps({k: str(v) for k, v in info.items()}, indent=2))
    return 0
