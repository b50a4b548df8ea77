"""The core's own commands, each declared like a plugin's (:class:`Command`): its arguments in a ``setup_*``
function, the work in a ``run_*`` function that imports heavy modules only when it runs."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..plugin_api.components import Command
from ..version import __version__


def table(rows: list[list[Any]], header: list[str]) -> str:
    """Rows as aligned text columns under ``header`` (for commands that print tables)."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def line(r: list) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def add_set_option(p: argparse.ArgumentParser) -> None:
    """``--set KEY.PATH=VALUE`` (repeatable), the override option every config-reading command takes."""
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a config key (repeatable), e.g. --set training.loop.epochs=2")


# -- list / describe ---------------------------------------------------------------------------
def setup_list(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kind", help="only this kind (backbone, head, training_mode, protocol, command, config, ...)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--strict", action="store_true", help="also import every implementation and check every config "
                                                          "field's doc; exit 1 if anything is not ok (a CI check)")
    p.set_defaults(func=run_list)


def run_list(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..plugin_api.components import KINDS
    from ..plugin_api.registry import registry

    reg = registry()
    entries = reg.verified(args.kind) if args.strict else reg.list(args.kind)
    known = sorted({*KINDS, "command", "config", *(e.kind for e in reg.list() if e.kind != "-")})
    if args.kind and args.kind not in known:
        raise ConfigError(f"--kind {args.kind!r}: no such kind (kinds: {', '.join(known)})")
    if args.json:
        print(json.dumps([e.as_json() for e in entries], indent=2))
    else:
        rows = [[e.kind, e.name, e.distribution, e.version, e.status, e.summary] for e in entries]
        print(table(rows, ["KIND", "NAME", "DISTRIBUTION", "VERSION", "STATUS", "SUMMARY"]))
        for e in entries:
            if e.error:
                print(f"  {e.status}: {e.distribution} ({e.entry_point}): {e.error}")
        dists, bad = len({e.distribution for e in entries}), sum(e.status != "ok" for e in entries)
        print(f"{len(entries)} {'entry' if len(entries) == 1 else 'entries'} from {dists} distribution"
              f"{'' if dists == 1 else 's'}, {bad} not ok · facex-core {__version__}")
    return int(args.strict and any(e.status != "ok" for e in entries))


def setup_describe(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_describe)


def run_describe(args: argparse.Namespace) -> int:
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
        info.update(count_params_and_macs(model), embedding_size=model.embedding_size)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"{entry.kind} {entry.name}  ({entry.distribution} {entry.version})\n  {comp.summary}")
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
def setup_config_show(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="experiment TOML (or the name of a config a plugin ships)")
    add_set_option(p)
    p.set_defaults(func=run_config_show)


def run_config_show(args: argparse.Namespace) -> int:
    from ..configs.toml import to_toml
    from ..engine.experiment import Experiment

    print(to_toml(Experiment.from_file(args.config, args.set).resolved()), end="")
    return 0


def _experiment_arguments(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("config", help=f"experiment TOML (or the name of a config a plugin ships){what}")
    add_set_option(p)
    p.add_argument("--workers", type=int, default=2, help="processes for the config's [[prepare]] data steps")


def setup_train(p: argparse.ArgumentParser) -> None:
    _experiment_arguments(p, "")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue from checkpoints/last.pt")
    mode.add_argument("--overwrite", action="store_true",
                      help="start afresh in an output folder that holds an earlier run (deletes its checkpoints)")
    p.set_defaults(func=run_train, interrupt_hint="rerun with --resume to continue training")


def run_train(args: argparse.Namespace) -> int:
    from ..engine.experiment import Experiment
    from ..runtime.distributed import init_from_env

    init_from_env()  # no-op unless launched by torchrun with WORLD_SIZE > 1
    exp = Experiment.from_file(args.config, args.set)
    exp.overwrite = args.overwrite
    exp.prepare_data(workers=args.workers)
    result = exp.build_training_mode().run(exp, resume=args.resume)
    print(f"trained {result.global_step} steps ({result.epochs_done} epochs), {train_summary(result)} "
          f"-> {result.last_checkpoint}" + ("" if result.finished else "  [stopped early: rerun with --resume to continue]"))
    return 0


def train_summary(result: Any) -> str:
    """``loss L, accuracy A, N images/s`` of a finished run; says so when no step was logged (a
    ``nan`` there would read as divergence)."""
    if result.loss != result.loss:
        return "no step was logged (the run was already complete, or every step was skipped)"
    return f"loss {result.loss:.4f}, accuracy {result.accuracy:.3f}, {result.images_per_s:.1f} images/s"


def setup_evaluate(p: argparse.ArgumentParser) -> None:
    _experiment_arguments(p, ", or a FaceX checkpoint (.pt)")
    p.add_argument("--checkpoint", action="append", default=[], metavar="[LABEL=]SPEC",
                   help="'last', 'none' or a path, optionally labelled (repeatable: one table row each; default "
                        "label: the run name the checkpoint records)")
    p.add_argument("--out", metavar="DIR", help="where the tables and curves go (default: <output_dir>/eval for the "
                                                 "config's own run, <output_dir>/eval-<labels> with other runs' "
                                                 "checkpoints, ./eval-<labels>/eval for a checkpoint)")
    p.set_defaults(func=run_evaluate)


def model_labels(exp: Any, specs: list[str]) -> list[tuple[str, str]]:
    """``(label, spec)`` per ``[LABEL=]SPEC``; unlabelled, 'none' is 'untrained' and a checkpoint the run name
    it records (``name:file`` where two would clash). Two models never share a label."""
    from ..engine.checkpoint import checkpoint_record
    from ..errors import ConfigError

    rows = []
    for spec in specs:
        label, sep, path = spec.partition("=")
        if sep and label and not {"/", "\\"} & set(label) and not Path(spec).exists():
            rows.append((label, path, True))
            continue
        file = exp.output_dir / "checkpoints" / "last.pt" if spec == "last" else Path(spec)
        record = checkpoint_record(file) if spec != "none" else {}
        name = record.get("config", {}).get("experiment", {}).get("name") or file.stem
        rows.append(("untrained" if spec == "none" else name, spec, False))
    names = [label for label, _, _ in rows]
    rows = [(f"{label}:{Path(spec).stem}" if not given and names.count(label) > 1 else label, spec, given)
            for label, spec, given in rows]
    clash = sorted({label for label, _, _ in rows if [r[0] for r in rows].count(label) > 1})
    if clash:
        raise ConfigError(f"--checkpoint: several models would be labelled {clash[0]!r}; name each: "
                          "--checkpoint LABEL=PATH")
    return [(label, spec) for label, spec, _ in rows]


def run_evaluate(args: argparse.Namespace) -> int:
    import re

    import attrs

    from ..engine.evaluate import evaluate_experiment, evaluate_models, markdown_table, write_report
    from ..engine.experiment import Experiment
    from ..errors import ConfigError
    from ..runtime.distributed import init_from_env, is_main

    from_checkpoint = args.config.endswith((".pt", ".pth"))  # its embedded config says what to build and evaluate
    if from_checkpoint:
        exp = Experiment.from_checkpoint(args.config, args.set)
    else:
        exp = Experiment.from_file(args.config, args.set)
        exp.prepare_data(workers=args.workers)
    if not exp.protocols:
        raise ConfigError(f"{exp.source}: no [[evaluation.protocols]] to evaluate; add one (facex-core list --kind protocol shows the installed protocols)")
    default = [args.config] if from_checkpoint else [] if exp.evaluation_models else [exp.evaluation.checkpoint]
    labelled = model_labels(exp, args.checkpoint or default)
    checkpoints = exp.output_dir.resolve() / "checkpoints"
    own_run = all(s in ("last", "none") or Path(s).resolve().parent == checkpoints
                  for s in [s for _, s in labelled] or [c for m in exp.evaluation_models for c in m.checkpoints])

    def named(models: list[str]) -> str:  # a folder named after the evaluation
        return "eval-" + re.sub(r"[^\w.+=-]+", "_", "+".join(models))[:100]

    if from_checkpoint:  # never into the folder the checkpoint's config names (another machine's path, another run's)
        folder = Path(args.out or named([label for label, _ in labelled]))
        exp.meta = attrs.evolve(exp.meta, output_dir=str(folder))  # the feature cache goes there too
    init_from_env()  # under torchrun each rank extracts a share of the images
    if is_main():
        for name, protocol in exp.build_protocols():
            print(f"{name}: {len(protocol.images())} images under {protocol.image_root}", file=sys.stderr)
    models = [evaluate_experiment(exp, spec, label) for label, spec in labelled] if labelled else evaluate_models(exp)
    if not is_main():
        return 0
    if from_checkpoint:
        out = folder / "eval"
    else:  # another run's checkpoint among the models: never over this run's own eval/results.*
        out = Path(args.out) if args.out else exp.output_dir / ("eval" if own_run else named([m.model for m in models]))
    files = write_report(models, out)
    print(markdown_table(models), end="")
    print("written: " + ", ".join(str(p) for p in files.values()))
    return 0


# -- export ------------------------------------------------------------------------------------
def setup_export_onnx(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint")
    p.add_argument("out")
    p.add_argument("--exporter", choices=["dynamo", "legacy"], default="dynamo")
    p.set_defaults(func=run_export_onnx)


def run_export_onnx(args: argparse.Namespace) -> int:
    from ..engine.checkpoint import load_backbone_weights
    from ..engine.experiment import Experiment
    from ..data.datasets import preprocess_of
    from ..nn.export import check_onnx, export_onnx

    exp = Experiment.from_checkpoint(args.checkpoint)
    backbone = exp.build_backbone()
    load_backbone_weights(backbone, args.checkpoint)  # export and check run it in eval mode
    pre = preprocess_of(exp.data)
    export_onnx(backbone, args.out, exporter=args.exporter, preprocess=pre)
    print(f"wrote {args.out}: input 'images' Nx3x{backbone.input_size[0]}x{backbone.input_size[1]} "
          f"({pre.channels}, (x-{pre.mean:g})/{pre.std:g}, recorded in the model's metadata), "
          f"output 'embeddings' Nx{backbone.embedding_size}, dynamic batch")
    try:
        cos = check_onnx(backbone, args.out)
    except ImportError:
        print("onnxruntime not installed: skipped the numerical check")
        return 0
    print(f"onnxruntime vs PyTorch on 5 random inputs: min cosine {cos:.6f}")
    if cos < 0.9999:
        print(f"facex-core export onnx: {args.out} disagrees with PyTorch (min cosine {cos:.6f} < 0.9999); try "
              "--exporter legacy", file=sys.stderr)
        return 1
    return 0


# -- new-plugin --------------------------------------------------------------------------------
def setup_new_plugin(p: argparse.ArgumentParser) -> None:
    from .scaffold import KINDS

    p.add_argument("kind", choices=KINDS)
    p.add_argument("name")
    p.add_argument("dir")
    p.set_defaults(func=run_new_plugin)


def run_new_plugin(args: argparse.Namespace) -> int:
    from .scaffold import write_plugin

    try:
        files = write_plugin(args.kind, args.name, Path(args.dir))
    except (ValueError, FileExistsError) as exc:
        print(f"facex-core: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(files)} files under {args.dir}; next: {sys.executable} -m pip install -e {args.dir} "
          f"&& facex-core list")
    return 0


# -- data formats ------------------------------------------------------------------------------
def setup_data_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="image folder, train list, or a data set in an installed data_format plugin's format")
    p.add_argument("--check", action="store_true", help="decode every image (default: a sample); exit 1 if "
                                                         "any is unreadable")
    p.add_argument("--root", help="folder a train list's paths are relative to (default: the list's folder)")
    p.set_defaults(func=run_data_inspect)


def run_data_inspect(args: argparse.Namespace) -> int:
    from ..data.inspect import inspect
    from ..plugin_api.build import build
    from ..plugin_api.registry import registry

    formats = [(name, build("data_format", name)) for name in registry().names("data_format")]
    found = next(((name, fmt) for name, fmt in formats if fmt.exists(Path(args.path))), None)
    info = inspect(args.path, check=args.check, root=args.root, data_format=found)
    print(json.dumps(info, indent=2))
    if info["unreadable"]:
        print(f"facex-core data inspect: {len(info['unreadable'])} of {info['checked']} checked images unreadable "
              f"(first: {info['unreadable'][0]})" + ("" if args.root or info["format"] != "train_list" else
                                                     "; pass --root if the list's paths are relative to another "
                                                     "folder"), file=sys.stderr)
        return 1
    return 0


def setup_data_list(p: argparse.ArgumentParser) -> None:
    p.add_argument("src")
    p.add_argument("out")
    p.set_defaults(func=run_data_list)


def run_data_list(args: argparse.Namespace) -> int:
    from ..data.datasets import write_train_list

    print(f"wrote {write_train_list(args.src, args.out)} lines to {args.out}")
    return 0


_HERE = __name__
CORE_COMMANDS = (
    Command(name="list", help="list installed components, commands and plugins", setup=f"{_HERE}:setup_list"),
    Command(name="describe", help="show a component's summary, paper and config fields",
            setup=f"{_HERE}:setup_describe"),
    Command(name="config", help="config utilities"),
    Command(name="show", group="config", help="print the fully resolved config, defaults included",
            setup=f"{_HERE}:setup_config_show"),
    Command(name="train", help="train from a TOML experiment config", setup=f"{_HERE}:setup_train"),
    Command(name="evaluate", help="evaluate the configured protocols", setup=f"{_HERE}:setup_evaluate"),
    Command(name="export", help="export a trained backbone"),
    Command(name="onnx", group="export", help="checkpoint -> ONNX (dynamic batch), checked against onnxruntime",
            setup=f"{_HERE}:setup_export_onnx"),
    Command(name="new-plugin", help="write a skeleton plugin distribution", setup=f"{_HERE}:setup_new_plugin"),
    Command(name="data", help="data utilities"),
    Command(name="inspect", group="data", help="counts, images per identity, sizes, unreadable images",
            setup=f"{_HERE}:setup_data_inspect"),
    Command(name="list", group="data", help="image folder -> FaceX-Zoo train list", setup=f"{_HERE}:setup_data_list"),
)
