"""Importing one model file: from the source's own description to an ordinary FaceX checkpoint.

:func:`import_weights` resolves the ``weights_importer`` component, reads the file without running
its code, builds the FaceX backbone the importer names, maps every tensor onto it (strictly; an
ONNX graph by structure), checks the result (finite embeddings; for ONNX, the same embeddings as the
file itself run by onnxruntime) and only then writes ``DST`` atomically: an interrupted or refused
import never leaves a half-written or wrong file, and an existing ``DST`` is replaced only when asked.

The checkpoint is what ``save_backbone_checkpoint`` writes (``format``, ``version``, ``config``,
``model`` with ``backbone.*`` keys, ``components``) plus ``source``: framework, importer, file name,
sha256, size, and what the file recorded (FaceX-Zoo's ``epoch``/``batch_id``). Its config's
``[data]`` holds the source's input convention (``channels``, ``mean``, ``std``, ``crop_eye``; ``root``
is empty) and its ``[backbone]`` the network with its ``input_size``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from facex_core import (CHECKPOINT_FORMAT, CHECKPOINT_VERSION, ConfigError, DataError, Experiment, OnnxFaceModel,
                        RegistryError, apply_overrides, build_from_table, describe_fields, registry, save_checkpoint)

from .importer import WeightsImporter
from .mapping import check_finite
from .sources import ONNX, TORCH, Source, detect_format, read_source

#: Component kind of the importers.
KIND = "weights_importer"
#: Minimum cosine between the imported network and an ONNX file's own output (onnxruntime).
MIN_COSINE = 0.9999
#: FaceX backbone names that users may give for InsightFace's get_model names.
INSIGHTFACE_ALIASES = {f"iresnet{d}": f"r{d}" for d in (18, 34, 50, 100, 200)}


@dataclass
class ImportResult:
    """What :func:`import_weights` wrote."""

    out: Path
    importer: str
    backbone: dict[str, Any]
    data: dict[str, Any]
    source: dict[str, Any]
    checks: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"out": str(self.out), "importer": self.importer, "backbone": self.backbone,
                "input_convention": {k: self.data[k] for k in ("channels", "mean", "std", "crop_eye")},
                "source": self.source, "checks": self.checks}


def importer_names(source_kind: str) -> list[str]:
    """The networks (``--backbone`` values) installed importers read for ``source_kind``."""
    prefix = f"{source_kind}."
    return [n[len(prefix):] for n in registry().names(KIND) if n.startswith(prefix)]


def resolve_importer(source_kind: str, network: str) -> str:
    """The component name of the importer of ``network`` (a FaceX-Zoo type such as ``ResNet`` or
    ``TF-NAS``, an arcface_torch ``get_model`` name such as ``r50``; ``DIST:name`` picks a distribution)."""
    dist, _, bare = network.rpartition(":")
    bare = bare.strip().lower()
    if source_kind == "insightface":
        bare = INSIGHTFACE_ALIASES.get(bare, bare)
    name = f"{dist + ':' if dist else ''}{source_kind}.{bare}"
    try:
        registry().get(KIND, name)
    except RegistryError as exc:
        if f"{source_kind}.{bare}" in registry().names(KIND):  # installed, but ambiguous or not from DIST
            raise ConfigError(f"--backbone {network}: {exc}") from None
        known = ", ".join(importer_names(source_kind)) or "none installed"
        raise ConfigError(f"--backbone {network}: no {source_kind} importer for it (known: {known})") from None
    return name


def split_overrides(overrides: Sequence[str], importer_fields: Sequence[str]) -> tuple[dict, dict]:
    """``--set backbone.KEY=VALUE`` values for the importer's config (the source's own keys) and for
    the FaceX backbone config (any other key, passed through and validated by it)."""
    data = apply_overrides({}, list(overrides))
    other = sorted(set(data) - {"backbone"})
    if other:
        raise ConfigError(f"--set {other[0]}...: import takes only backbone.KEY=VALUE overrides")
    table = data.get("backbone", {})
    if not isinstance(table, dict):
        raise ConfigError("--set backbone=...: give backbone.KEY=VALUE")
    if "name" in table:
        raise ConfigError("--set backbone.name: the network is chosen with --backbone")
    return ({k: v for k, v in table.items() if k in importer_fields},
            {k: v for k, v in table.items() if k not in importer_fields})


def check_destination(src: Path, out: Path, overwrite: bool) -> None:
    """Refuse to replace an existing ``out`` unless ``overwrite``, and ever to replace the source."""
    if out.exists() and out.is_dir():
        raise ConfigError(f"--out {out}: is a folder; give the checkpoint file to write (e.g. {out / 'model.pt'})")
    if out.exists() and src.exists() and os.path.samefile(out, src):
        raise ConfigError(f"--out {out}: is the source file itself; write the FaceX checkpoint elsewhere")
    if out.exists() and not overwrite:
        raise ConfigError(f"--out {out}: exists; pass --overwrite to replace it")


def _experiment(importer: WeightsImporter, table: dict[str, Any], data: dict[str, Any], name: str) -> Experiment:
    config = {"experiment": {"name": name}, "data": {"root": "", **data}, "backbone": table}
    try:
        return Experiment(config, source=f"import ({importer.framework})")
    except ConfigError as exc:
        raise ConfigError(f"{exc} (from the importer's config and --set)") from None


def onnx_convention(importer: WeightsImporter, graph: Any) -> tuple[dict[str, Any], set[int], tuple[float, float]]:
    """The input convention of an ONNX model, the normalisation nodes to skip, and the
    ``(mean, std)`` its own code feeds: the importer's, unless the graph normalises its input
    itself (then raw pixels go in, as InsightFace's ArcFaceONNX does for such graphs)."""
    scale, shift, nodes = graph.input_affine()
    convention = importer.convention()
    if not nodes:
        return convention, nodes, (convention["mean"], convention["std"])
    if scale <= 0:
        raise DataError(f"{graph.source}: the graph multiplies its input by {scale}; FaceX records a positive std")
    # the network proper sees scale * pixel + shift
    return {**convention, "mean": -shift / scale, "std": 1.0 / scale}, nodes, (0.0, 1.0)


def verify_onnx(path: Path, backbone: torch.nn.Module, external: tuple[float, float], data: dict[str, Any],
                samples: int = 2, seed: int = 0) -> float:
    """Min cosine between the ONNX file run by onnxruntime (on pixels normalised as its own code does,
    ``external``) and the imported network (on the same pixels normalised by the recorded convention)."""
    try:
        model = OnnxFaceModel(path, default_size=tuple(backbone.input_size))
    except ImportError:
        return float("nan")
    import numpy as np

    h, w = backbone.input_size
    if model.input_size != (h, w):
        raise DataError(f"{path}: the graph takes {model.input_size[0]} x {model.input_size[1]} inputs, the imported "
                        f"network {h} x {w}")
    rng = np.random.default_rng(seed)
    pixels = rng.uniform(0, 255, size=(samples, 3, h, w)).astype(np.float32)
    ref = model.run((pixels - external[0]) / external[1]).reshape(samples, -1)
    facex_in = torch.from_numpy(((pixels - data["mean"]) / data["std"]).astype(np.float32))
    backbone.eval()
    with torch.no_grad():
        got = backbone(facex_in).float().numpy().reshape(samples, -1)
    if ref.shape != got.shape:
        raise DataError(f"{path}: the graph outputs {ref.shape[1]} values per face, the imported network "
                        f"{got.shape[1]}")
    cos = (ref * got).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1) + 1e-12)
    return float(cos.min())


def import_weights(source_kind: str, src: str | os.PathLike, network: str, out: str | os.PathLike, *,
                   overrides: Sequence[str] = (), with_head: bool = False, overwrite: bool = False,
                   log: Callable[[str], None] | None = None) -> ImportResult:
    """Import the ``network`` model file ``src`` of ``source_kind`` (``facexzoo``, ``insightface``) into
    the FaceX checkpoint ``out`` (see the module doc). User mistakes raise
    :class:`facex_core.ConfigError` (options) or :class:`facex_core.DataError` (the file)."""
    say = log or (lambda _msg: None)
    src_path, out_path = Path(src), Path(out)
    name = resolve_importer(source_kind, network)
    entry = registry().get(KIND, name)
    fields = {row["name"]: row["default"] for row in describe_fields(entry.component.config)}
    importer_values, passthrough = split_overrides(overrides, list(fields))
    for key, value in importer_values.items():  # a table (HRNet's EXTRA) is overridden key by key
        if isinstance(fields[key], dict) and isinstance(value, dict):
            importer_values[key] = _merged(fields[key], value)
    importer: WeightsImporter = build_from_table(KIND, {"name": name, **importer_values}, path="backbone",
                                                 source=f"--backbone {network} --set")[2]
    check_destination(src_path, out_path, overwrite)
    importer.check()
    if src_path.is_file() and src_path.stat().st_size and detect_format(src_path) not in importer.formats:
        raise DataError(f"{src_path}: an {detect_format(src_path)} file; the {entry.name} importer reads "
                        f"{' and '.join(importer.formats)} files")
    say(f"reading {src_path}")
    source: Source = read_source(src_path)
    table = importer.backbone_table()
    checks: dict[str, Any] = {}
    if source.format == TORCH:
        state = importer.backbone_state(source)
        check_finite(state, src_path.name)
        table = importer.adapt(table, state)
        data = importer.convention()
    else:
        from .onnx_graph import Graph

        graph = Graph(source.onnx_model, src_path.name)
        data, skip, external = onnx_convention(importer, graph)
    table = {**table, **passthrough}
    exp = _experiment(importer, table, data, f"{importer.framework}-{src_path.stem}")
    backbone = exp.build_backbone()
    resolved = exp.resolved()
    label = exp.backbone.entry.name
    say(f"mapping {len(source.state) or 'the graph'} tensors onto {label}")
    if source.format == TORCH:
        weights = importer.map_state(state, backbone, source=src_path.name, network=label)
    else:
        weights = importer.map_onnx(graph, backbone, network=label, skip=skip)
        check_finite(weights, src_path.name)
    backbone.load_state_dict(weights, strict=True)
    backbone.eval()
    with torch.no_grad():
        probe = backbone(torch.randn(2, 3, *backbone.input_size))
    if not bool(torch.isfinite(probe).all()):
        raise DataError(f"{src_path}: the imported network gives non-finite embeddings; refusing to write {out_path}")
    if source.format == ONNX:
        cosine = verify_onnx(src_path, backbone, external, resolved["data"])
        checks["onnxruntime_min_cosine"] = None if cosine != cosine else round(cosine, 7)
        if cosine == cosine and cosine < MIN_COSINE:
            raise DataError(f"{src_path}: the imported {label} disagrees with the ONNX file run by onnxruntime "
                            f"(min cosine {cosine:.6f} < {MIN_COSINE}); refusing to write {out_path}")
    model = {f"backbone.{k}": v for k, v in backbone.state_dict().items()}
    record = {"framework": importer.framework, "importer": f"{entry.distribution}:{entry.name}",
              "importer_config": _plain(importer.config), **source.record()}
    if with_head:
        centres, head_key = importer.head_centres(source, int(getattr(backbone, "embedding_size", 512)))
        check_finite({head_key: centres}, src_path.name)
        model["head.classifier.weight"] = centres
        record.update(head_key=head_key, head_classes=int(centres.shape[0]))
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": resolved,
               "components": exp.component_names(), "model": model, "source": record}
    check_destination(src_path, out_path, overwrite)
    say(f"writing {out_path}")
    save_checkpoint(out_path, payload)
    return ImportResult(out=out_path, importer=record["importer"], backbone=resolved["backbone"],
                        data=resolved["data"], source=record, checks=checks)


def _merged(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        out[key] = _merged(out[key], value) if isinstance(out.get(key), dict) and isinstance(value, dict) else value
    return out


def _plain(config: Any) -> dict[str, Any]:
    """A config object as plain values (for the source record)."""
    import attrs

    def plain(value: Any) -> Any:
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        return value
    return {k: plain(v) for k, v in attrs.asdict(config, recurse=False).items()}
