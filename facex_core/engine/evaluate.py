"""The evaluation engine: load a model, extract features per protocol, score, write tables and plots."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import attrs
import numpy as np
import torch

from ..data.datasets import Preprocess, preprocess_of
from .checkpoint import checkpoint_record, load_backbone_weights
from ..nn.export import OnnxFaceModel, onnx_convention
from .experiment import Experiment
from .extract import cache_key, extract_features
from ..metrics.plot import plot_curves
from ..interfaces.protocol import ProtocolResult
from ..plugin_api.registry import registry
from ..runtime.files import write_atomic


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


@attrs.define
class _Member:
    """One network of a (possibly ensembled) model, ready to extract features."""

    backbone: torch.nn.Module
    model_id: str
    describe: str
    preprocess: Preprocess


class _OnnxNet(torch.nn.Module):
    """An ONNX model run by onnxruntime where extraction expects a backbone (N×3×H×W in, N×D out)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        import onnxruntime as ort

        wanted = [p for p in ort.get_available_providers() if p in ("CUDAExecutionProvider", "CPUExecutionProvider")]
        self.onnx = OnnxFaceModel(path, wanted)
        self.input_size = self.onnx.input_size  # its batch rule stays with self.onnx (it can learn batch 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.onnx.run(images.detach().float().cpu().numpy())).to(images.device)


def _onnx_member(path: Path, row: Any) -> _Member:
    """An ONNX file fed its recognised input convention, or the ``[[evaluation.models]]`` entry's."""
    conv = onnx_convention(path)
    chosen = {k: getattr(row, k) for k in ("channels", "mean", "std") if getattr(row, k, None) not in (None, "")}
    pre = Preprocess(**{k: chosen.get(k, conv[k]) for k in ("crop_eye", "channels", "mean", "std")})
    print(f"{path}: ONNX model fed {pre} ({'evaluation.models' if chosen else conv['source']})", file=sys.stderr)
    return _Member(_OnnxNet(path), _file_digest(path), f"onnx:{pre!r}", pre)


def _member(exp: "Experiment", spec: str, row: Any = None) -> tuple[_Member, Path | None]:
    """'last' / 'none' use the experiment's backbone; a checkpoint rebuilds the network it was trained with
    (models of different architectures can share one table); an ``.onnx`` file runs in onnxruntime."""
    ckpt = None if spec == "none" else exp.output_dir / "checkpoints" / "last.pt" if spec == "last" else Path(spec)
    if ckpt is not None and not ckpt.exists():
        raise FileNotFoundError(f"evaluation.checkpoint: {ckpt} does not exist (train first, or set "
                                f"evaluation.checkpoint = 'none' for untrained weights)")
    exp.seed_everything()
    if ckpt is not None and ckpt.suffix.lower() == ".onnx":
        return _onnx_member(ckpt, row), ckpt
    owner = exp if ckpt is None or spec == "last" else Experiment.from_checkpoint(ckpt)
    backbone = owner.build_backbone()
    if ckpt is not None:
        load_backbone_weights(backbone, ckpt)
    model_id = _file_digest(ckpt) if ckpt is not None else f"untrained:seed={exp.seed}"
    describe = f"{owner.backbone.name}:{owner.backbone.plain()!r}:{preprocess_of(owner.data)!r}"
    return _Member(backbone, model_id, describe, preprocess_of(owner.data)), ckpt


def evaluate_experiment(exp: "Experiment", checkpoint: str | Sequence[str] | None = None,
                        label: str | None = None, row: Any = None) -> ModelResult:
    """Evaluate one model on every configured protocol: ``checkpoint`` is ``'last'``, ``'none'``, a FaceX checkpoint
    or ONNX file, or several (an ensemble: its members' unit features concatenated, normalised again); ``row`` is
    the ``[[evaluation.models]]`` entry (its ONNX input settings)."""
    specs = [checkpoint] if isinstance(checkpoint, str) or checkpoint is None else list(checkpoint)
    specs = [s if s is not None else exp.evaluation.checkpoint for s in specs]
    members, ckpts = zip(*(_member(exp, s, row) for s in specs))
    if label is None:
        label = "+".join("untrained" if c is None else c.stem for c in ckpts)
    ev = exp.evaluation
    results: dict[str, ProtocolResult] = {}
    for i, (name, protocol) in enumerate(exp.build_protocols()):
        paths = protocol.images()
        parts = []
        for j, m in enumerate(members):
            key = cache_key(m.model_id, m.describe, protocol.fingerprint(), ev.flip,
                            images_digest(protocol.image_root, paths)) if ev.cache else ""
            parts.append(extract_features(
                m.backbone, protocol.image_root, paths, input_size=m.backbone.input_size, batch_size=ev.batch_size,
                flip=ev.flip, device=exp.device, num_workers=ev.num_workers, preprocess=m.preprocess,
                cache_dir=exp.output_dir / "features" / f"{name}-{key}" if ev.cache else None,
                desc=f"{name} [{label}{f' {j + 1}/{len(members)}' if len(members) > 1 else ''}]"))
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
        return [evaluate_experiment(exp, list(m.checkpoints), m.label or None, m) for m in exp.evaluation_models]
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


def log_to_runs(models: Sequence[ModelResult]) -> dict[str, Path]:
    """Each model of one checkpoint in a run folder (``RUN/checkpoints/X.pt``) into the run's tensorboard
    (``RUN/tb``): ``eval/<protocol>/<metric>`` at the checkpoint's step. Returns the folders written."""
    from tensorboardX import SummaryWriter

    written = {}
    for m in models:
        ckpt = Path(m.checkpoint)
        if ckpt.parent.name != "checkpoints" or ckpt.suffix != ".pt" or not ckpt.is_file():
            continue  # untrained, an ensemble, an ONNX file or a file outside a run folder
        step = int(checkpoint_record(ckpt).get("global_step", 0))
        with SummaryWriter(str(ckpt.parent.parent / "tb")) as writer:
            for proto, r in m.results.items():
                for metric, value in r.metrics.items():
                    writer.add_scalar(f"eval/{proto}/{metric}", value, step)
        written[f"tensorboard {m.model}"] = ckpt.parent.parent / "tb"
    return written


def write_report(models: Sequence[ModelResult], out_dir: str | os.PathLike,
                 tensorboard: bool = True) -> dict[str, Path]:
    """Write ``results.md``, ``results.csv``, ``results.json``, per protocol and curve a PNG and its points
    as CSV (``model,<x label>,<y label>``), and (``tensorboard``) the metrics into each run's :func:`log_to_runs`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"markdown": out / "results.md", "csv": out / "results.csv", "json": out / "results.json"}
    write_atomic(files["markdown"], markdown_table(models))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["model", "checkpoint", "protocol", "metric", "value"])
    payload: list[dict[str, Any]] = []
    for m in models:
        for proto, r in m.results.items():
            writer.writerows([m.model, m.checkpoint, proto, k, f"{v:.6g}"] for k, v in r.metrics.items())
            payload.append({"model": m.model, "checkpoint": m.checkpoint, "protocol": proto,
                            "primary": r.primary, "metrics": r.metrics, "details": r.details})
    write_atomic(files["csv"], buf.getvalue())
    write_atomic(files["json"], json.dumps(payload, indent=2, default=float))
    for proto in dict.fromkeys(p for m in models for p in m.results):
        names = {c.name for m in models if proto in m.results for c in m.results[proto].curves}
        for curve_name in sorted(names):
            series = [(m.model, c) for m in models if proto in m.results
                      for c in m.results[proto].curves if c.name == curve_name]
            path = out / f"{proto}_{curve_name}.png"
            plot_curves(series, path, title=f"{proto} {curve_name.upper()}")
            buf = io.StringIO()
            csv.writer(buf).writerows([["model", series[0][1].x_label, series[0][1].y_label],
                                       *([label, f"{x:.6g}", f"{y:.6g}"] for label, c in series
                                         for x, y in zip(np.asarray(c.x, float), np.asarray(c.y, float)))])
            files[f"{proto}_{curve_name}"], files[f"{proto}_{curve_name} points"] = path, path.with_suffix(".csv")
            write_atomic(path.with_suffix(".csv"), buf.getvalue())
    return {**files, **(log_to_runs(models) if tensorboard else {})}
