"""``facex-core demo [CONFIG]``: prepare a config's data, train, and compare untrained vs trained.

Steps: the config's ``[[prepare]]`` data makers in order (``demo.toml``: the synthetic faces), the
training of its ``[training]`` mode, then every ``[[evaluation.protocols]]`` entry on the untrained
and on the trained network; the table, CSV, JSON and curves go to ``OUTPUT_DIR/eval``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import facex_core

MASKED = "demo_masked.toml"


def setup(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``demo``."""
    parser.add_argument("config", nargs="?", help="experiment TOML, or the name of a packaged one "
                                                  "(default: demo.toml; sst_shallow.toml with facex-mode-sst)")
    facex_core.add_set_option(parser)
    parser.add_argument("--workers", type=int, default=2, help="processes for the [[prepare]] data steps")
    parser.add_argument("--resume", action="store_true", help="continue the training from checkpoints/last.pt")
    parser.add_argument("--masked", action="store_true",
                        help=f"the masked demo ({MASKED}: masked training copies, one-side-masked pairs; "
                             "from facex-masks); its mask settings are --set prepare.N.KEY=VALUE")
    parser.set_defaults(func=run, interrupt_hint="rerun with --resume to continue training")


def demo_config(args: argparse.Namespace) -> str:
    """The config the demo runs: CONFIG, else the masked or the plain packaged demo config."""
    if args.config:
        return args.config
    if not args.masked:
        return "demo.toml"
    if not Path(MASKED).is_file() and facex_core.registry().packaged_config(MASKED) is None:
        raise facex_core.ConfigError(f"demo --masked: no {MASKED} is installed; install the facex-masks "
                                     "distribution (it ships the masked demo), or pass a config file")
    return MASKED


def _percent(value: float) -> str:
    return f"{100 * value:.2f}%" if 0 <= value <= 1 else f"{value:.4g}"


def run(args: argparse.Namespace) -> int:
    """Prepare, train, evaluate untrained and trained; print the table and each column's change."""
    import itertools
    import time

    if args.workers < 0:
        raise facex_core.ConfigError(f"--workers: must be >= 0, got {args.workers}")
    exp = facex_core.Experiment.from_file(demo_config(args), args.set)
    t0 = time.perf_counter()
    steps = len(exp.prepare) + 2
    number = itertools.count(1)
    exp.prepare_data(workers=args.workers,
                     log=lambda maker: print(f"[{next(number)}/{steps}] {maker.describe()}", flush=True))
    head = f" + {exp.head.name}" if exp.has_head else ""
    print(f"[{steps - 1}/{steps}] training {exp.backbone.name}{head} ({exp.training.name})", flush=True)
    result = exp.build_training_mode().run(exp, resume=args.resume)
    print(f"      {result.global_step} steps, {result.images_per_s:.1f} images/s, last loss {result.loss:.3f}")
    columns = ", ".join(label or p.name for p, label in zip(exp.protocols, exp.protocol_labels))
    print(f"[{steps}/{steps}] evaluating untrained vs trained: {columns}", flush=True)
    models = [facex_core.evaluate_experiment(exp, "none", "untrained"),
              facex_core.evaluate_experiment(exp, "last", "trained")]
    files = facex_core.write_report(models, exp.output_dir / "eval")
    print()
    print(facex_core.markdown_table(models))
    untrained, trained = models
    for column, before in untrained.results.items():
        after = trained.results[column]
        a, b = before.metrics[before.primary], after.metrics[after.primary]
        change = f"  ({100 * (b - a):+.2f} points)" if 0 <= a <= 1 and 0 <= b <= 1 else ""
        print(f"{column} {before.primary}: untrained {_percent(a)}  ->  trained {_percent(b)}{change}")
    print(f"done in {time.perf_counter() - t0:.0f} s; results: " + ", ".join(str(p) for p in files.values()))
    return 0
