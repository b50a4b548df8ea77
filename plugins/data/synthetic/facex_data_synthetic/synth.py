"""``facex-core data synth OUT [--set KEY=VALUE] [--workers N] [--overwrite]``: write a synthetic data set."""
from __future__ import annotations

import argparse
import json

import facex_core


def setup(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``data synth``."""
    parser.add_argument("out", help="folder to write (train/, test/, synthetic.json)")
    facex_core.add_set_option(parser)
    parser.add_argument("--workers", type=int, default=2, help="drawing processes (0: this process)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a folder made with another config (deletes its train/, test/ and synthetic.json)")
    parser.set_defaults(func=run, interrupt_hint="rerun the same command to continue: finished images are kept")


def run(args: argparse.Namespace) -> int:
    """Draw the data set (or finish an interrupted one) and print its paths and counts as JSON."""
    from .generate import generate
    from .maker import DrawingProgress
    from .plugin import SyntheticConfig

    if args.workers < 0:
        raise facex_core.ConfigError(f"--workers: must be >= 0, got {args.workers}")
    cfg = facex_core.structure_config(SyntheticConfig, facex_core.apply_overrides({}, args.set),
                                      source="data synth --set")
    progress = DrawingProgress()
    try:
        info = generate(cfg, args.out, workers=args.workers, overwrite=args.overwrite, progress=progress)
    finally:
        progress.close()
    print(json.dumps({k: str(v) for k, v in info.items()}, indent=2))
    return 0
