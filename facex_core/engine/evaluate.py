"""The evaluation engine: load a model, extract features per protocol, score, write tables and plots."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import attrs
import numpy as np
import torch

from ..data.datasets import Preprocess, preprocess_of
from .checkpoint import load_backbone_weights
from .extract import cache_key, extract_features
from ..metrics.plot import plot_curves
from ..interfaces.protocol import ProtocolResult
from ..plugin_api.registry import registry

if TYPE_CHECKING:
    from .experiment import Experiment


@attrs.define
class ModelResult:
    """Results of one model over the experiment's protocols."""

    model: str
    checkpoint: str
    results: dict[str, ProtocolResult]


def _file_digest(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"


def images_digest(root: str | os.PathLike, paths: Sequence[str]) -> str:
    """A digest of the image list and of every image's size and modification time: replacing an image
    changes it, so cached features are never reused for other pixels."""
    h = hashlib.sha256()
    for rel in paths:
        try:
            st = os.stat(Path(root) / rel)
            h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{rel}\0missing\n".encode())
    return h.hexdigest()


def resolve_checkpoint(exp: "Experiment", spec: str) -> Path | None:
    if spec == "none":
        return None
    path = exp.output_dir / "checkpoints" / "last.pt" if spec == "last" else Path(spec)
    if not path.exists():
        raise FileNotFoundError(f"evaluation.checkpoint: {path} does not exist (train first, or set "
                                f"evaluation.checkpoint = 'none' for untrained weights)")
    return path


@attrs.define
class _Member:
    """One network of a (possibly ensembled) model, ready to extract features."""

    backbone: torch.nn.Module
    model_id: str
    describe: str
    preprocess: Preprocess


def _member(exp: "Experiment", spec: str) -> tuple[_Member, Path | None]:
    """'last' / 'none' use the experiment's backbone; a path rebuilds the network its checkpoint
    was trained with (so models of different architectures can share one table)."""
    ckpt = resolve_checkpoint(exp, spec)
    exp.seed_everything()
    if ckpt is None or spec == "last":
        owner = exp
    else:
        from .experiment import Experiment

        owner = Experiment.from_checkpoint(ckpt)
    backbone = owner.build_backbone()
    if ckpt is not None:
        load_backbone_weights(backbone, ckpt)
    model_id = _file_digest(ckpt) if ckpt is not None else f"untrained:seed={exp.seed}"
    describe = f"{owner.backbone.name}:{owner.backbone.plain()!r}:{preprocess_of(owner.data)!r}"
    return _Member(backbone, model_id, describe, preprocess_of(owner.data)), ckpt


def evaluate_experiment(exp: "Experiment", checkpoint: str | Sequence[str] | None = None,
                        label: str | None = None) -> ModelResult:
    """Evaluate one model on every configured protocol.

    ``checkpoint`` is ``'last'``, ``'none'``, a path, or several of them: an ensemble, whose feature
    is the concatenation of its members' L2-normalised features (normalised again).
    """
    specs = [checkpoint] if isinstance(checkpoint, str) or checkpoint is None else list(checkpoint)
    specs = [s if s is not None else exp.evaluation.checkpoint for s in specs]
    members, ckpts = zip(*(_member(exp, s) for s in specs))
    if label is None:
        names = ["untrained" if c is None else c.stem for c in ckpts]
        label = names[0] if len(names) == 1 else "+".join(names)
    ev = exp.evaluation
    results: dict[str, ProtocolResult] = {}
    for i, (name, protocol) in enumerate(exp.build_protocols()):
        paths = protocol.images()
        parts = []
        for j, m in enumerate(members):
            cache = None
            if ev.cache:
                key = cache_key(m.model_id, m.describe, protocol.fingerprint(), ev.flip,
                                images_digest(protocol.image_root, paths))
                cache = exp.output_dir / "features" / f"{name}-{key}"
            feats = extract_features(m.backbone, protocol.image_root, paths, input_size=m.backbone.input_size,
                                     batch_size=ev.batch_size, flip=ev.flip, device=exp.device,
                                     num_workers=ev.num_workers, cache_dir=cache, preprocess=m.preprocess,
                                     desc=f"{name} [{label}{f' {j + 1}/{len(members)}' if len(members) > 1 else ''}]")
            parts.append(feats)
        if len(parts) == 1:
            feats = parts[0]
        else:
            stacked = np.concatenate([np.stack([p[k] for k in paths]) for p in parts], axis=1)
            stacked /= np.linalg.norm(stacked, axis=1, keepdims=True)
            feats = dict(zip(paths, stacked))
        key_name = name if name not in results else f"{name}#{i}"
        results[key_name] = protocol.evaluate(feats)
        registry().broadcast("facex_protocol_result", protocol=key_name, model=label,
                             metrics=dict(results[key_name].metrics))
    return ModelResult(model=label, checkpoint=";".join(str(c) if c else "none" for c in ckpts), results=results)


def evaluate_models(exp: "Experiment", specs: Sequence[str] | None = None) -> list[ModelResult]:
    """Every model of the run: ``specs`` (command line), else ``[[evaluation.models]]``, else the default."""
    if specs:
        return [evaluate_experiment(exp, s) for s in specs]
    if exp.evaluation_models:
        return [evaluate_experiment(exp, list(m.checkpoints), m.label or None) for m in exp.evaluation_models]
    return [evaluate_experiment(exp)]


def _fmt(result: ProtocolResult) -> str:
    m = result.metrics
    value = m[result.primary]
    if result.primary == "accuracy" and "accuracy_std" in m:
        return f"{100 * value:.2f} ± {100 * m['accuracy_std']:.2f}"
    return f"{100 * value:.2f}" if 0 <= value <= 1 else f"{value:.4g}"


def markdown_table(models: Sequence[ModelResult]) -> str:
    """One row per model, one column per protocol (primary metric), like the paper's Tables 1–2."""
    protocols = list(dict.fromkeys(p for m in models for p in m.results))
    head = "| model | " + " | ".join(protocols) + " |"
    sep = "|---|" + "---|" * len(protocols)
    rows = [f"| {m.model} | " + " | ".join(_fmt(m.results[p]) if p in m.results else "–" for p in protocols) + " |"
            for m in models]
    return "\n".join([head, sep, *rows]) + "\n"


def write_report(models: Sequence[ModelResult], out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``results.md``, ``results.csv``, ``results.json`` and one curve PNG per protocol."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"markdown": out / "results.md", "csv": out / "results.csv", "json": out / "results.json"}
    files["markdown"].write_text(markdown_table(models))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["model", "checkpoint", "protocol", "metric", "value"])
    payload: list[dict[str, Any]] = []
    for m in models:
        for proto, r in m.results.items():
            for metric, value in r.metrics.items():
                writer.writerow([m.model, m.checkpoint, proto, metric, f"{value:.6g}"])
            payload.append({"model": m.model, "checkpoint": m.checkpoint, "protocol": proto,
                            "primary": r.primary, "metrics": r.metrics, "details": r.details})
    files["csv"].write_text(buf.getvalue())
    files["json"].write_text(json.dumps(payload, indent=2, default=float))
    protocols = list(dict.fromkeys(p for m in models for p in m.results))
    for proto in protocols:
        names = {c.name for m in models if proto in m.results for c in m.results[proto].curves}
        for curve_name in sorted(names):
            series = [(m.model, c) for m in models if proto in m.results
                      for c in m.results[proto].curves if c.name == curve_name]
            path = out / f"{proto}_{curve_name}.png"
            plot_curves(series, path, title=f"{proto} {curve_name.upper()}")
            files[f"{proto}_{curve_name}"] = path
    return files
