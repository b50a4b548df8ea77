"""One experiment = one TOML file: data, backbone, head, training mode, evaluation protocols."""
from __future__ import annotations

import functools
import os
import random
from pathlib import Path
from typing import Any, Mapping

import attrs

from ..plugin_api.build import build, table_config
from ..configs.toml import ConfigError, apply_overrides, load_toml, structure, unstructure
from ..data.datasets import CORE_FORMATS, DataConfig, FaceImageDataset, count_classes, preprocess_of, read_samples
from ..configs.options import config, option
from ..plugin_api.registry import Entry, load_factory, registry

SECTIONS = ("experiment", "prepare", "data", "backbone", "head", "training", "evaluation")


@config
class ExperimentMeta:
    """The ``[experiment]`` table."""

    name: str = option("experiment", doc="Run name; used in the default output folder.")
    output_dir: str = option("runs/{name}", doc="Where checkpoints, logs and results go ('{name}' is replaced).")
    seed: int = option(0, doc="Seed for initialisation, data order and augmentation.", ge=0)
    device: str = option("auto", doc="'auto' (CUDA when available), 'cpu' or 'cuda[:N]'.")
    threads: int = option(0, doc="torch CPU threads; 0 keeps torch's default.", ge=0)


@config
class EvaluationConfig:
    """The ``[evaluation]`` table (the protocols are its ``[[evaluation.protocols]]`` array)."""

    checkpoint: str = option("last", doc="'last' (this run's last checkpoint), 'none' (untrained weights) or a path.")
    batch_size: int = option(128, doc="Images per forward pass during feature extraction.", ge=1)
    flip: str = option("sum", doc="Flip test-time augmentation: 'none', 'sum' (fused) or 'concat'.",
                       choices=("none", "sum", "concat"))
    num_workers: int = option(2, doc="Loader worker processes for extraction.", ge=0)
    cache: bool = option(True, doc="Cache features on disk per model and protocol.")


@config
class ModelSpec:
    """One row of the results table: a ``[[evaluation.models]]`` entry."""

    label: str = option("", doc="Row name in the table (default: the checkpoint file names).")
    checkpoints: tuple[str, ...] = option(("last",), doc="'last', 'none', FaceX checkpoint or .onnx paths; several = "
                                                         "an ensemble of concatenated features.")
    channels: str = option("", doc="ONNX files: input channel order where the file does not say it ('' = recognise).",
                           choices=("", "BGR", "RGB"))
    mean: float | None = option(None, doc="ONNX files: pixel mean where the file does not say it.", ge=0, le=255)
    std: float | None = option(None, doc="ONNX files: pixel std where the file does not say it.", gt=0)


@attrs.define
class ResolvedComponent:
    """A config section resolved to its registry entry and validated config."""

    entry: Entry
    config: Any

    @property
    def name(self) -> str:
        return self.entry.name

    def plain(self) -> dict[str, Any]:
        return {"name": self.entry.name, **unstructure(self.config)}

    def build(self) -> Any:
        return load_factory(self.entry.component)(self.config)


def _providers(section: str, name: str) -> set[str]:
    """Distributions that provide the component a config section names (``training`` is a mode)."""
    kind = {"training": "training_mode"}.get(section, section)
    return {e.distribution for e in registry().list(kind) if e.kind == kind and e.name == name}


class Experiment:
    """A validated experiment config plus builders for its components; every section is checked on
    creation, so a typo fails at once with the key path and the file, not hours into a run."""

    def __init__(self, data: Mapping[str, Any], source: str = "<config>") -> None:
        self.source = source
        #: ``train --overwrite``: a new run deletes an earlier run's checkpoints instead of refusing to start
        self.overwrite = False
        unknown = sorted(set(data) - set(SECTIONS))
        if unknown:
            raise ConfigError(f"{source}: {unknown[0]}: unknown section (expected one of {', '.join(SECTIONS)})")
        self.meta: ExperimentMeta = structure(ExperimentMeta, data.get("experiment", {}), path="experiment", source=source)
        self.prepare = [self._table("dataset", table, f"prepare[{i}]")
                        for i, table in enumerate(self._array(data, "prepare", "[[prepare]]"))]
        self.data: DataConfig | None = (structure(DataConfig, data["data"], path="data", source=source)
                                        if "data" in data else None)
        self.backbone = self._component("backbone", data, "backbone")
        self._raw_head = data.get("head")
        self.training = self._component("training_mode", data, "training")
        evaluation = dict(data.get("evaluation", {}))
        protocols = self._array(evaluation, "protocols", "[[evaluation.protocols]]", "evaluation.")
        models = self._array(evaluation, "models", "[[evaluation.models]]", "evaluation.")
        evaluation = {k: v for k, v in evaluation.items() if k not in ("protocols", "models")}
        self.evaluation_models = [structure(ModelSpec, m, path=f"evaluation.models[{i}]", source=source)
                                  for i, m in enumerate(models)]
        self.evaluation: EvaluationConfig = structure(EvaluationConfig, evaluation, path="evaluation", source=source)
        self.protocol_labels: list[str] = []
        self.protocols = []
        for i, table in enumerate(protocols):
            table = dict(table) if isinstance(table, Mapping) else table
            label = table.pop("label", "") if isinstance(table, dict) else ""
            if not isinstance(label, str):
                raise ConfigError(f"{source}: evaluation.protocols[{i}].label: expected a string, "
                                  f"got {type(label).__name__}")
            self.protocols.append(self._table("protocol", table, f"evaluation.protocols[{i}]"))
            self.protocol_labels.append(label)
        if self._raw_head is not None:
            # validated now; the class count may come from data that a [[prepare]] step still has to
            # write, so the head is resolved for real on first use
            self._declared_head()

    def _declared_head(self) -> ResolvedComponent:
        """The head with a stand-in class count (for validation before the data exist)."""
        return self._table("head", self._raw_head, "head", {"num_classes": 2, **self._head_defaults()})

    def _array(self, data: Mapping[str, Any], key: str, form: str, prefix: str = "") -> list[Any]:
        value = data.get(key, [])
        if not isinstance(value, list):
            raise ConfigError(f"{self.source}: {prefix}{key}: expected an array of tables ({form})")
        return value

    # -- parsing -----------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | os.PathLike, overrides: list[str] | None = None) -> "Experiment":
        """The experiment of TOML file ``path``, or of the config of that name a plugin ships
        (``demo.toml``), with ``--set`` style ``overrides`` applied."""
        if not Path(path).exists() and Path(path).name == str(path):
            path = registry().packaged_config(str(path)) or path
        data = load_toml(path)
        if overrides:
            data = apply_overrides(data, overrides)
        return cls(data, source=str(path) + (f" (with --set {' '.join(overrides)})" if overrides else ""))

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, overrides: list[str] | None = None,
                        full: bool = False) -> "Experiment":
        """The experiment a FaceX checkpoint was trained with (its resolved config travels inside it): only
        experiment, data, backbone and evaluation unless ``full`` (so it works without its head's or mode's
        plugin); a bare name several installed distributions provide resolves to the one that trained it."""
        from .checkpoint import load_checkpoint

        ckpt = load_checkpoint(path)
        data = dict(ckpt["config"])
        if not full:
            data = {k: v for k, v in data.items() if k in ("experiment", "data", "backbone", "evaluation")}
        for section, recorded in (ckpt.get("components") or {}).items():
            table = data.get(section)
            if isinstance(table, dict) and isinstance(table.get("name"), str) and ":" not in table["name"] \
                    and isinstance(recorded, dict) and len(_providers(section, table["name"])) > 1:
                data[section] = {**table, "name": f"{recorded.get('distribution')}:{table['name']}"}
        head = data.get("head")
        if isinstance(head, dict) and not isinstance(head.get("num_classes"), int):
            head.pop("num_classes", None)
        if overrides:
            data = apply_overrides(data, overrides)
        return cls(data, source=f"{path} (embedded config)")

    def _table(self, kind: str, table: Any, path: str, defaults: Mapping[str, Any] | None = None) -> ResolvedComponent:
        return ResolvedComponent(*table_config(kind, table, path=path, source=self.source, defaults=defaults))

    def _component(self, kind: str, data: Mapping[str, Any], section: str) -> ResolvedComponent | None:
        return self._table(kind, data[section], section) if section in data else None

    def _head_defaults(self) -> dict[str, Any]:
        size = getattr(self.backbone.config, "embedding_size", None) if self.backbone is not None else None
        return {} if size is None else {"embedding_size": size}

    @property
    def has_head(self) -> bool:
        """Whether the config has a ``[head]`` section (without reading any data)."""
        return self._raw_head is not None

    @functools.cached_property
    def head(self) -> ResolvedComponent | None:
        """The ``[head]``, resolved on first use: its class count may come from data a [[prepare]] step writes."""
        if self._raw_head is None:
            return None
        defaults = self._head_defaults()
        if "num_classes" not in self._raw_head and self.data is not None:
            defaults["num_classes"] = self.num_classes
        return self._table("head", self._raw_head, "head", defaults)

    # -- derived values ----------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def seed(self) -> int:
        return self.meta.seed

    @property
    def output_dir(self) -> Path:
        return Path(self.meta.output_dir.replace("{name}", self.meta.name))

    @property
    def device(self):
        from ..runtime.distributed import resolve_device

        try:
            return resolve_device(self.meta.device)
        except ValueError as exc:
            raise ConfigError(f"{self.source}: experiment.device: {exc}") from None

    @functools.cached_property
    def data_format(self) -> Any:
        """The plugin reading ``[data] format`` if it is not one of the core's own (resolved on first use, so a
        checkpoint trained on a plugin's format evaluates and exports without that plugin)."""
        if self.data is None or self.data.format in CORE_FORMATS:
            return None
        try:
            return build("data_format", self.data.format)
        except LookupError as exc:
            raise ConfigError(f"{self.source}: data.format: {exc}; the core reads 'train_list' and 'image_folder'") \
                from None

    @functools.cached_property
    def samples(self) -> list[tuple[str, int]]:
        if self.data is None:
            raise ConfigError(f"{self.source}: data: section missing (needed for training)")
        return read_samples(self.data, self.data_format)

    @functools.cached_property
    def num_classes(self) -> int:
        declared = self.data_format.num_classes(Path(self.data.root)) if self.data_format else 0
        return max(count_classes(self.samples, self.data.train_list or self.data.root), declared)

    def resolved(self) -> dict[str, Any]:
        """The full config with every default filled in (what ``config show`` prints and checkpoints keep)."""
        out: dict[str, Any] = {"experiment": unstructure(self.meta)}
        if self.prepare:
            out["prepare"] = [p.plain() for p in self.prepare]
        if self.data is not None:
            out["data"] = unstructure(self.data)
        if self.backbone is not None:
            out["backbone"] = self.backbone.plain()
        if self._raw_head is not None:
            if "head" in vars(self) or "num_classes" in self._raw_head or self.data_exists():  # resolved already
                out["head"] = self.head.plain()  # type: ignore[union-attr]
            else:  # a [[prepare]] step has not written the data yet: the class count is pending
                out["head"] = {k: v for k, v in self._declared_head().plain().items() if k != "num_classes"}
        if self.training is not None:
            out["training"] = self.training.plain()
        ev = unstructure(self.evaluation)
        if self.protocols:
            ev["protocols"] = [{**p.plain(), **({"label": label} if label else {})}
                               for p, label in zip(self.protocols, self.protocol_labels)]
        if self.evaluation_models:
            ev["models"] = [unstructure(m) for m in self.evaluation_models]
        out["evaluation"] = ev
        return out

    def data_exists(self) -> bool:
        """Whether the ``[data]`` files are there (a ``[[prepare]]`` step may still have to write them)."""
        if self.data is None:
            return False
        if self.data.format == "train_list":
            return Path(self.data.train_list).is_file()
        return self.data_format.exists(Path(self.data.root)) if self.data_format else Path(self.data.root).exists()

    def component_names(self) -> dict[str, dict[str, str]]:
        return {key: {"name": c.entry.name, "distribution": c.entry.distribution, "version": c.entry.version}
                for key, c in (("backbone", self.backbone), ("head", self.head), ("training", self.training))
                if c is not None}

    # -- builders ----------------------------------------------------------------------------
    def seed_everything(self) -> None:
        import numpy as np
        import torch

        random.seed(self.seed)
        np.random.seed(self.seed % 2**32)
        torch.manual_seed(self.seed)
        if self.meta.threads:
            torch.set_num_threads(self.meta.threads)

    def _build(self, comp: ResolvedComponent | None, section: str) -> Any:
        if comp is None:
            raise ConfigError(f"{self.source}: {section}: section missing")
        return comp.build()

    def build_backbone(self) -> Any:
        return self._build(self.backbone, "backbone")

    def build_head(self) -> Any:
        return self._build(self.head, "head")

    def build_training_mode(self) -> Any:
        return self._build(self.training, "training")

    def build_protocols(self) -> list[tuple[str, Any]]:
        """(column name, protocol) per ``[[evaluation.protocols]]`` entry; the name is its ``label`` if set."""
        return [(label or p.entry.name, p.build()) for p, label in zip(self.protocols, self.protocol_labels)]

    def train_dataset(self, input_size: tuple[int, int]) -> FaceImageDataset:
        assert self.data is not None
        if self.data.max_bad_images > 0:
            self.output_dir.mkdir(parents=True, exist_ok=True)
        return FaceImageDataset(self.data.root, self.samples, input_size, self.data.flip, augment=self.data.augment,
                                bad_log=self.output_dir / "bad_images.txt" if self.data.max_bad_images > 0 else None,
                                preprocess=preprocess_of(self.data), data_format=self.data_format)

    def prepare_data(self, workers: int = 0, log: Any = None) -> list[dict[str, Any]]:
        """Run the ``[[prepare]]`` steps (:class:`facex_core.DatasetMaker`; each returns at once when
        its data is complete); ``log(maker)`` is called before each one."""
        summaries = []
        for maker in (p.build() for p in self.prepare):
            if log is not None:
                log(maker)
            summaries.append(maker.prepare(workers=workers))
        return summaries

    # -- logging -----------------------------------------------------------------------------
    def summary_writer(self):
        from tensorboardX import SummaryWriter

        return SummaryWriter(str(self.output_dir / "tb"))

    def broadcast_train_event(self, event: str, state: dict) -> None:
        registry().broadcast("facex_train_event", event=event, state=state)
