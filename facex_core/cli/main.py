"""The ``facex-core`` command line."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from ..version import __version__


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def line(r: list) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


# -- list / describe ---------------------------------------------------------------------------
def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def cmd_list(args: argparse.Namespace) -> int:
    from ..plugin_api.registry import registry

    entries = registry().list(args.kind)
    if args.json:
        print(json.dumps([e.as_json() for e in entries], indent=2))
    else:
        rows = [[e.kind, e.name, e.distribution, e.version, e.status, e.summary] for e in entries]
        print(_table(rows, ["KIND", "NAME", "DISTRIBUTION", "VERSION", "STATUS", "SUMMARY"]))
        for e in entries:
            if e.error:
                print(f"  {e.status}: {e.distribution} ({e.entry_point}): {e.error}")
        dists = len({e.distribution for e in entries})
        bad = sum(e.status != "ok" for e in entries)
        print(f"{_count(len(entries), 'entry', 'entries')} from {_count(dists, 'distribution')}, {bad} not ok "
              f"· facex-core {__version__}")
    if args.strict and any(e.status != "ok" for e in entries):
        return 1
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    from ..configs.options import describe_fields
    from ..plugin_api.registry import load_factory, registry

    entry = registry().get(args.kind, args.name)
    comp = entry.component
    assert comp is not None
    info: dict[str, Any] = {"kind": entry.kind, "name": entry.name, "distribution": entry.distribution,
                            "version": entry.version, "summary": comp.summary, "paper": comp.paper,
                            "factory": comp.factory, "config": describe_fields(comp.config)}
    if entry.kind == "backbone":
        from ..nn.complexity import count_params_and_macs

        model = load_factory(comp)(comp.config())
        info.update(count_params_and_macs(model))
        info["embedding_size"] = model.embedding_size
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"{entry.kind} {entry.name}  ({entry.distribution} {entry.version})")
    print(f"  {comp.summary}")
    if comp.paper:
        print(f"  paper: {comp.paper}")
    if "params" in info:
        print(f"  params: {info['params'] / 1e6:.3f} M   MACs: {info['macs'] / 1e9:.3f} G at "
              f"{info['input_size'][0]}x{info['input_size'][1]}   embedding: {info['embedding_size']}")
    print("  config:")
    for f in info["config"]:
        print(f"    {f['name']} = {f['default']!r}  ({f['type']})  {f['doc']}")
    return 0


# -- config / train / evaluate -------------------------------------------------------------------
def cmd_config_show(args: argparse.Namespace) -> int:
    from ..configs.toml import to_toml
    from ..engine.experiment import Experiment

    exp = Experiment.from_file(args.config, args.set)
    print(to_toml(exp.resolved()), end="")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from ..runtime.distributed import init_from_env
    from ..engine.experiment import Experiment

    init_from_env()  # no-op unless launched by torchrun with WORLD_SIZE > 1

    exp = Experiment.from_file(args.config, args.set)
    exp.prepare_synthetic(workers=args.workers)
    result = exp.build_training_mode().run(exp, resume=args.resume)
    print(f"trained {result.global_step} steps ({result.epochs_done} epochs), loss {result.loss:.4f}, "
          f"accuracy {result.accuracy:.3f}, {result.images_per_s:.1f} images/s -> {result.last_checkpoint}"
          + ("" if result.finished else "  [stopped early: rerun with --resume to continue]"))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..runtime.distributed import init_from_env, is_main
    from ..engine.evaluate import evaluate_models, markdown_table, write_report
    from ..engine.experiment import Experiment

    if args.config.endswith(".pt"):  # a checkpoint: its embedded config says what to build and evaluate
        exp = Experiment.from_checkpoint(args.config, args.set)
        specs = args.checkpoint or [args.config]
    else:
        exp = Experiment.from_file(args.config, args.set)
        exp.prepare_synthetic(workers=args.workers)
        specs = args.checkpoint
    init_from_env()  # under torchrun each rank extracts a share of the images
    models = evaluate_models(exp, specs)
    if not is_main():
        return 0
    files = write_report(models, exp.output_dir / "eval")
    print(markdown_table(models), end="")
    print("written: " + ", ".join(str(p) for p in files.values()))
    return 0


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


def cmd_data_pack(args: argparse.Namespace) -> int:
    from ..data.pack import pack

    info = pack(args.src, args.out, train_list=args.train_list, shuffle=args.shuffle, seed=args.seed,
                workers=args.workers)
    print(json.dumps(info, indent=2))
    return 0


def cmd_data_inspect(args: argparse.Namespace) -> int:
    from ..data.pack import inspect

    print(json.dumps(inspect(args.path, check=args.check), indent=2))
    return 0


def cmd_data_list(args: argparse.Namespace) -> int:
    from ..data.pack import write_train_list

    n = write_train_list(args.src, args.out)
    print(f"wrote {n} lines to {args.out}")
    return 0


def cmd_export_onnx(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from ..engine.evaluate import load_backbone_weights
    from ..engine.experiment import Experiment
    from ..nn.export import export_onnx

    exp = Experiment.from_checkpoint(args.checkpoint)
    backbone = exp.build_backbone()
    load_backbone_weights(backbone, args.checkpoint)
    backbone.eval()
    export_onnx(backbone, args.out, exporter=args.exporter)
    print(f"wrote {args.out}: input 'images' Nx3x{backbone.input_size[0]}x{backbone.input_size[1]} "
          f"(BGR, (x-127.5)/128), output 'embeddings' Nx{backbone.embedding_size}, dynamic batch")
    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime not installed: skipped the numerical check")
        return 0
    x = torch.randn(5, 3, *backbone.input_size)
    with torch.no_grad():
        ref = backbone(x).numpy()
    sess = ort.InferenceSession(str(args.out), providers=["CPUExecutionProvider"])
    (out,) = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})
    cos = (out * ref).sum(1) / (np.linalg.norm(out, axis=1) * np.linalg.norm(ref, axis=1))
    print(f"onnxruntime vs PyTorch on 5 random inputs: min cosine {cos.min():.6f}")
    return 0 if cos.min() >= 0.9999 else 1


def cmd_new_plugin(args: argparse.Namespace) -> int:
    from .scaffold import write_plugin

    try:
        files = write_plugin(args.kind, args.name, Path(args.dir))
    except (ValueError, FileExistsError) as exc:
        print(f"facex-core: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(files)} files under {args.dir}; next: pip install -e {args.dir} && facex-core list")
    return 0


# -- parser ------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="facex-core", description="FaceX: face recognition training, evaluation and SDK.")
    p.add_argument("--version", action="version", version=f"facex-core {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def with_set(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="override a config key (repeatable), e.g. --set training.loop.epochs=2")

    sp = sub.add_parser("list", help="list installed components and plugins")
    sp.add_argument("--kind", help="only this kind (backbone, head, training_mode, protocol, ...)")
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.add_argument("--strict", action="store_true", help="exit 1 if anything is broken, conflicting or incompatible")
    sp.set_defaults(func=cmd_list)

    sp = sub.add_parser("describe", help="show a component's summary, paper and config fields")
    sp.add_argument("kind")
    sp.add_argument("name")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_describe)

    sp = sub.add_parser("config", help="config utilities")
    csub = sp.add_subparsers(dest="config_command", required=True)
    cs = csub.add_parser("show", help="print the fully resolved config, defaults included")
    cs.add_argument("config")
    with_set(cs)
    cs.set_defaults(func=cmd_config_show)

    for name, func, helptext in (("train", cmd_train, "train from a TOML experiment config"),
                                 ("evaluate", cmd_evaluate, "evaluate the configured protocols")):
        sp = sub.add_parser(name, help=helptext)
        sp.add_argument("config", help="experiment TOML" + (" or a FaceX checkpoint (.pt)" if name == "evaluate" else ""))
        with_set(sp)
        sp.add_argument("--workers", type=int, default=2, help="processes for synthetic data generation")
        if name == "train":
            sp.add_argument("--resume", action="store_true", help="continue from checkpoints/last.pt")
        else:
            sp.add_argument("--checkpoint", action="append", default=[],
                            help="'last', 'none' or a path (repeatable: one table row each)")
        sp.set_defaults(func=func)

    sp = sub.add_parser("demo", help="synthetic data -> train MobileFaceNet+ArcFace -> LFW-style evaluation")
    sp.add_argument("config", nargs="?", help="experiment config, or the name of a packaged one (demo.toml, "
                                              "demo_masked.toml, sst_shallow.toml); default demo.toml, "
                                              "or demo_masked.toml with --masked")
    with_set(sp)
    sp.add_argument("--workers", type=int, default=2)
    sp.add_argument("--resume", action="store_true")
    sp.add_argument("--masked", action="store_true",
                    help="masked variant: train on original + masked copies, evaluate unmasked and "
                         "one-side-masked pairs (needs a mask_adder, default fma3d)")
    sp.add_argument("--mask-set", action="append", default=[], metavar="KEY.PATH=VALUE",
                    help="mask adder override for --masked, e.g. --mask-set mask_adder.name=fma3d")
    sp.set_defaults(func=cmd_demo)

    sp = sub.add_parser("data", help="data utilities")
    dsub = sp.add_subparsers(dest="data_command", required=True)
    ds = dsub.add_parser("synth", help="write a synthetic identity data set in the real formats")
    ds.add_argument("out")
    with_set(ds)
    ds.add_argument("--workers", type=int, default=2)
    ds.set_defaults(func=cmd_data_synth)
    ds = dsub.add_parser("pack", help="image folder or train list -> InsightFace train.rec/.idx/property")
    ds.add_argument("src", help="image folder (one sub-folder per identity), or an image root with --train-list")
    ds.add_argument("out")
    ds.add_argument("--train-list", help="FaceX-Zoo list file with paths relative to SRC")
    ds.add_argument("--shuffle", action="store_true")
    ds.add_argument("--seed", type=int, default=0)
    ds.add_argument("--workers", type=int, default=2)
    ds.set_defaults(func=cmd_data_pack)
    ds = dsub.add_parser("inspect", help="counts, images per identity, sizes, unreadable images")
    ds.add_argument("path", help="image folder, train list, or folder with train.rec")
    ds.add_argument("--check", action="store_true", help="decode every image (default: a sample)")
    ds.set_defaults(func=cmd_data_inspect)
    ds = dsub.add_parser("list", help="image folder -> FaceX-Zoo train list")
    ds.add_argument("src")
    ds.add_argument("out")
    ds.set_defaults(func=cmd_data_list)
    from ..apps.align_data import add_data_align_command
    from ..apps.mask_cli import add_data_mask_command, add_mask_commands

    add_data_align_command(dsub)  # data align
    add_data_mask_command(dsub)  # data mask
    add_mask_commands(sub)  # mask template|sheet

    sp = sub.add_parser("export", help="export a trained backbone")
    esub = sp.add_subparsers(dest="export_command", required=True)
    es = esub.add_parser("onnx", help="checkpoint -> ONNX (dynamic batch), checked against onnxruntime")
    es.add_argument("checkpoint")
    es.add_argument("out")
    es.add_argument("--exporter", choices=["dynamo", "legacy"], default="dynamo")
    es.set_defaults(func=cmd_export_onnx)

    sp = sub.add_parser("new-plugin", help="write a skeleton plugin distribution")
    sp.add_argument("kind", choices=["backbone", "head", "protocol", "training_mode"])
    sp.add_argument("name")
    sp.add_argument("dir")
    sp.set_defaults(func=cmd_new_plugin)

    from ..apps.sdk_cli import add_sdk_commands

    add_sdk_commands(sub)  # sdk detect|align|embed|compare|search
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..errors import ConfigError, RegistryError

    try:
        return int(args.func(args) or 0)
    except (ConfigError, RegistryError, FileNotFoundError) as exc:
        print(f"facex-core: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("facex-core: interrupted (rerun with --resume to continue training)", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
