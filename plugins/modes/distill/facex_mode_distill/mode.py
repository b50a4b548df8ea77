"""The distill training mode: knowledge distillation on the core training engine.

The core :class:`facex_core.Trainer` runs the loop (optimiser, schedule, gradient accumulation,
clipping, AMP and the non-finite guard, channels_last, compile, DDP, checkpoints and bit-exact
resume, validation, progress); this mode supplies the distillation through the TrainingMode hooks:

* ``prepare_batch``: images and labels on the device, plus each sample's data-set index and flip
  (the key of the teacher cache);
* ``compute_loss``: the teacher's taps of the micro-batch (from the frozen teacher, or from the
  cache), then the student model's forward pass, which returns head loss + Σ λ_i · term_i;
* ``epoch_indices``: builds the teacher cache once, before the first epoch runs (``cache_teacher``);
* ``extra_state`` / ``load_extra_state``: the teacher's weight fingerprint (a resumed run refuses a
  teacher checkpoint whose weights changed); adapters and loss state are in the model's state dict.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
from torch.utils.data import DataLoader, Dataset

import facex_core
from facex_core import (ConfigError, DataError, Experiment, HeadOutput, Progress, Trainer, TrainingMode, TrainResult,
                        load_backbone_weights, load_checkpoint, preprocess_of)

from .model import (TAKES, DistillModel, MapAdapter, Teacher, VectorAdapter, side_shapes, stage_name,
                    state_fingerprint, tap_kind)
from .plugin import DistillConfig, DistillTermConfig


class KeyedDataset(Dataset):
    """The core training data set, each item also giving its data-set index and its flip (the seed's low
    bit when ``data.flip``): ``(image, label, index, flip)``."""

    def __init__(self, images: Any) -> None:
        self.images = images
        self.bad_log = getattr(images, "bad_log", None)  # the engine checks it
        self.flip = bool(getattr(images, "flip", False))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int, int, int]:
        index, seed = key if isinstance(key, tuple) else (key, 0)
        image, label = self.images[(index, seed)]
        return image, label, index, (seed & 1) if self.flip else 0


def _preprocess_text(p: Any) -> str:
    return f"channels {p.channels}, mean {p.mean:g}, std {p.std:g}, crop_eye {str(p.crop_eye).lower()}"


def load_teacher(path: str, student: Experiment, with_head: bool) -> tuple[Any, Any, Any]:
    """``(backbone, head or None, teacher experiment)`` of the FaceX checkpoint ``path``, after checking
    that its input convention is the student's."""
    if not Path(path).is_file():
        raise ConfigError(f"{student.source}: training.teacher: {path}: no such checkpoint (train the teacher "
                          "first: any FaceX run's checkpoints/last.pt)")
    teacher = Experiment.from_checkpoint(path, full=with_head)
    mine, theirs = preprocess_of(student.data), preprocess_of(teacher.data)
    if mine != theirs:
        raise ConfigError(f"{student.source}: training.teacher: {path} was trained on inputs with "
                          f"{_preprocess_text(theirs)} but the student's [data] gives {_preprocess_text(mine)}; "
                          "the teacher would see images it was not trained on: set the student's data.channels/"
                          "mean/std/crop_eye to the teacher's")
    backbone = teacher.build_backbone()
    load_backbone_weights(backbone, path)
    head = None
    if with_head:
        if not teacher.has_head:
            raise ConfigError(f"{student.source}: training.losses: a 'logits' tap needs the teacher's head, but "
                              f"{path} was trained without one")
        table = teacher.head.plain()
        table["name"] = f"{teacher.head.entry.distribution}:{table['name']}"
        table["classifier"] = {**table.get("classifier", {}), "shard": False}  # the whole head on every rank
        _, _, head = facex_core.build_from_table("head", table, path="head", source=f"{path} (teacher)")
        # mapped, not read: only the head's tensors are copied out of the file
        state = {k[len("head."):]: v for k, v in load_checkpoint(path, mmap=True)["model"].items()
                 if k.startswith("head.")}
        try:
            head.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise DataError(f"{path}: its head weights do not fit the head its config describes (a shard of a "
                            f"model-parallel run?): {str(exc).splitlines()[0][:200]}") from None
    return backbone, head, teacher


class DistillTraining(TrainingMode):
    """Builds the student (backbone + head + adapters), the frozen teacher, the distillation losses and
    the data, and runs them on the core :class:`Trainer` with the distillation hooks."""

    def __init__(self, config: DistillConfig) -> None:
        super().__init__(config)
        self.teacher: Teacher | None = None
        self.fingerprint = ""
        self.cache: dict[str, torch.Tensor] | None = None
        self.teacher_taps: list[tuple[str, ...]] = []

    def run(self, experiment: Experiment, resume: bool = False) -> TrainResult:
        return self.build(experiment).fit(resume=resume)

    # -- building ----------------------------------------------------------------------------
    def build(self, experiment: Experiment) -> Trainer:
        """Check the experiment, seed, build networks, losses, adapters, data and engine; nothing is trained."""
        cfg = self.config
        if experiment.data is None:
            raise ConfigError(f"{experiment.source}: data: section missing (needed for training)")
        if not experiment.has_head:
            raise ConfigError(f"{experiment.source}: head: training mode 'distill' trains a backbone + head student; "
                              "add a [head] section (head_weight = 0 to train on the distillation terms only)")
        experiment.seed_everything()
        # student first, exactly as the conventional mode builds it (same initial weights for a seed)
        backbone = experiment.build_backbone()
        head = experiment.build_head()
        if head.embedding_size != backbone.embedding_size:
            raise ConfigError(f"{experiment.source}: head.embedding_size = {head.embedding_size} but the backbone "
                              f"gives {backbone.embedding_size}-d embeddings")
        classifier = getattr(head, "classifier", None)
        if getattr(classifier, "sharded", False):
            raise ConfigError(f"{experiment.source}: head.classifier.shard: training mode 'distill' runs the student "
                              "data-parallel (its adapters and distillation terms are per rank); set "
                              "[head.classifier] shard = false")
        terms = list(cfg.losses)
        logits_taps = any("logits" in t.student_taps + t.teacher_taps for t in terms)
        if logits_taps and getattr(getattr(classifier, "config", None), "sample_rate", 1.0) < 1.0:
            raise ConfigError(f"{experiment.source}: training.losses: 'logits' taps compare all classes, but the "
                              "student head samples them (Partial FC, head.classifier.sample_rate < 1)")
        dataset = KeyedDataset(experiment.train_dataset(backbone.input_size))
        if cfg.cache_teacher:
            self._check_cacheable(experiment)
        # teacher, losses and adapters draw from a forked RNG: the student's training sees the same random
        # numbers as a conventional run of the same seed (with every weight 0 it is that run, bit for bit)
        with torch.random.fork_rng(devices=[]):
            t_backbone, t_head, _ = load_teacher(cfg.teacher, experiment, logits_taps)
            self.fingerprint = state_fingerprint(*(n for n in (t_backbone, t_head) if n is not None))
            self.teacher_taps = [t.teacher_taps for t in terms]
            self.teacher = Teacher(t_backbone, t_head, [tap for taps in self.teacher_taps for tap in taps])
            losses, adapters = self._build_terms(experiment, terms, backbone, head, t_backbone, t_head)
        model = DistillModel(backbone, head, terms, losses, adapters, cfg.head_weight)
        trainer = Trainer(experiment, model, dataset, cfg.optimizer, cfg.schedule, cfg.loop, mode=self)
        self.teacher.to(trainer.device, channels_last=cfg.loop.channels_last)
        return trainer

    def _check_cacheable(self, experiment: Experiment) -> None:
        data = experiment.data
        if data.augment.active:
            raise ConfigError(f"{experiment.source}: training.cache_teacher: the teacher's outputs can be cached only "
                              "for data that are not augmented ([data.augment] is on; data.flip alone is fine)")
        if data.max_bad_images > 0:
            raise ConfigError(f"{experiment.source}: training.cache_teacher: with data.max_bad_images > 0 an "
                              "unreadable image's stand-in changes from epoch to epoch; turn one of them off")

    def _build_terms(self, experiment: Experiment, terms: Sequence[DistillTermConfig], backbone: Any, head: Any,
                     t_backbone: Any, t_head: Any) -> tuple[list[Any], list[list[Any]]]:
        student_taps = sorted({tap for t in terms for tap in t.student_taps})
        teacher_taps = sorted({tap for t in terms for tap in t.teacher_taps})
        try:
            s_shapes = side_shapes(backbone, student_taps, head.num_classes, backbone.input_size)
        except ValueError as exc:
            raise ConfigError(f"{experiment.source}: training.losses: student: {exc}") from None
        try:
            t_shapes = side_shapes(t_backbone, teacher_taps, getattr(t_head, "num_classes", None),
                                   t_backbone.input_size)
        except ValueError as exc:
            raise ConfigError(f"{experiment.source}: training.losses: teacher: {exc}") from None
        losses, adapters = [], []
        for i, term in enumerate(terms):
            where = f"{experiment.source}: training.losses[{i}]"
            options = dict(term.options)
            if options.get("num_classes") == 0:
                options["num_classes"] = experiment.num_classes
            if options.get("embedding_size") == 0:
                options["embedding_size"] = int(t_shapes[term.teacher_taps[0]][0])
            loss = facex_core.build("distill_loss", term.name, **options)
            takes = getattr(loss, "takes", None)
            if takes not in TAKES:
                raise ConfigError(f"{where}.name: {term.name} declares takes = {takes!r}; expected one of "
                                  f"{', '.join(TAKES)}")
            self._check_taps(where, term, takes)
            row = [self._adapter(where, term, loss, s_shapes[s], t_shapes[t], s, t)
                   for s, t in zip(term.student_taps, term.teacher_taps)]
            losses.append(loss)
            adapters.append(row)
        return losses, adapters

    @staticmethod
    def _check_taps(where: str, term: DistillTermConfig, takes: str) -> None:
        want = {"logits": "logits", "embeddings": "embeddings"}.get(takes, "stage")
        for side, taps in (("student", term.student_taps), ("teacher", term.teacher_taps)):
            if any(tap_kind(tap) != want for tap in taps):
                example = want if want != "stage" else "stage:NAME"
                raise ConfigError(f"{where}.{side}: {term.name} takes {takes}: tap {example!r}, got {', '.join(taps)!r}")
            if takes != "feature_maps" and len(taps) != 1:
                raise ConfigError(f"{where}.{side}: {term.name} takes one {takes}, got {len(taps)} taps")

    @staticmethod
    def _adapter(where: str, term: DistillTermConfig, loss: Any, s_shape: tuple, t_shape: tuple,
                 s_tap: str, t_tap: str) -> Any:
        """The student-side adapter of one tap (``None`` when the shapes can be used as they are)."""
        match_channels = bool(getattr(loss, "match_channels", True))
        match_size = bool(getattr(loss, "match_size", True))
        if tap_kind(s_tap) == "logits":
            if s_shape != t_shape:
                raise ConfigError(f"{where}: student logits have {s_shape[0]} classes, the teacher's {t_shape[0]}: "
                                  "logits taps need a teacher trained on the same identities")
            return None
        if tap_kind(s_tap) == "embeddings":
            differ = match_channels and s_shape != t_shape
            if term.adapter == "none" and differ:
                raise ConfigError(f"{where}: {s_shape[0]}-d student and {t_shape[0]}-d teacher embeddings with "
                                  "adapter = 'none'")
            if term.adapter == "always" or (term.adapter == "auto" and differ):
                return VectorAdapter(s_shape[0], t_shape[0] if match_channels else s_shape[0])
            return None
        tokens = "tokens" in s_shape or "tokens" in t_shape
        (c_s, *hw_s), (c_t, *hw_t) = s_shape[:3], t_shape[:3]
        channels_differ = match_channels and c_s != c_t
        size_differs = match_size and hw_s != hw_t
        if size_differs and tokens:
            raise ConfigError(f"{where}: {s_tap} and {t_tap} are token sequences of different lengths "
                              f"({hw_s[0]} and {hw_t[0]}); only maps can be resized")
        if term.adapter == "none" and (channels_differ or size_differs):
            raise ConfigError(f"{where}: {s_tap} is {c_s}×{hw_s[0]}×{hw_s[1]}, {t_tap} {c_t}×{hw_t[0]}×{hw_t[1]}, "
                              "and adapter = 'none'")
        if term.adapter == "always":
            return MapAdapter(c_s, c_t if match_channels else c_s, hw_t if match_size else None)
        if channels_differ or size_differs:
            return MapAdapter(c_s, c_t if channels_differ else None, hw_t if size_differs else None)
        return None

    # -- teacher cache -----------------------------------------------------------------------
    @torch.no_grad()
    def _build_cache(self, trainer: Trainer) -> dict[str, torch.Tensor]:
        """Every tap of the teacher for every data-set item and flip, in a fixed order and batching (so a
        resumed run rebuilds exactly the same cache), kept on the CPU."""
        data: KeyedDataset = trainer.dataset
        flips = (0, 1) if data.flip else (0,)
        keys = [(index, flip) for flip in flips for index in range(len(data))]
        workers = trainer.experiment.data.num_workers
        loader = DataLoader(_KeyList(data, keys), batch_size=trainer.micro_batch, shuffle=False,
                            num_workers=workers, persistent_workers=False)
        parts: dict[str, list[torch.Tensor]] = {tap: [] for tap in self.teacher.taps}
        bar = Progress(len(loader), desc="teacher cache", unit="batch")
        bar.disabled = bar.disabled or trainer.rank != 0
        for images, labels, _, _ in loader:
            with trainer.autocast():
                sides = self.teacher(trainer.to_device(images), labels.to(trainer.device))
            for tap, value in sides.items():
                parts[tap].append(value.cpu())
            bar.update()
        bar.close()
        return {tap: torch.cat(values).reshape(len(flips), len(data), *values[0].shape[1:])
                for tap, values in parts.items()}

    # -- engine hooks ------------------------------------------------------------------------
    def epoch_indices(self, trainer: Trainer) -> Sequence[int] | None:
        if self.config.cache_teacher and self.cache is None:
            self.cache = self._build_cache(trainer)
        return None

    def prepare_batch(self, trainer: Trainer, batch: Any) -> tuple[torch.Tensor, ...]:
        images, labels, items, flips = batch
        return trainer.to_device(images), labels.to(trainer.device, non_blocking=True), items, flips

    def batch_labels(self, batch: Any) -> torch.Tensor:
        return batch[1]

    def teacher_sides(self, trainer: Trainer, batch: Any) -> list[list[torch.Tensor]]:
        """Term by term, the teacher's tensor for each of its taps on this micro-batch."""
        images, labels, items, flips = batch
        if self.cache is not None:
            sides = {tap: self.cache[tap][flips, items].to(trainer.device, non_blocking=True)
                     for tap in self.teacher.taps}
        else:
            sides = self.teacher(images, labels)
        return [[sides[tap] for tap in taps] for taps in self.teacher_taps]

    def compute_loss(self, trainer: Trainer, batch: Any, index: int) -> HeadOutput:
        images, labels = batch[0], batch[1]
        return trainer.forward_model(images, labels, self.teacher_sides(trainer, batch))

    def compile_model(self, trainer: Trainer) -> torch.nn.Module:
        return torch.compile(trainer.model)

    def extra_state(self, trainer: Trainer) -> dict[str, Any]:
        return {"teacher": self.fingerprint}

    def load_extra_state(self, trainer: Trainer, state: dict[str, Any] | None, source: str) -> None:
        if not isinstance(state, dict) or "teacher" not in state:
            raise ConfigError(f"{source}: not a distill checkpoint (no teacher record); it was written by another "
                              "training mode")
        if state["teacher"] != self.fingerprint:
            raise ConfigError(f"{source}: the run started from other teacher weights than {self.config.teacher} holds "
                              "now; resume with the teacher it was trained with, or train into another output_dir")


class _KeyList(Dataset):
    """``keys[i]`` = ``(index, flip)`` of a :class:`KeyedDataset`: the fixed order of the teacher cache."""

    def __init__(self, data: KeyedDataset, keys: list[tuple[int, int]]) -> None:
        self.data, self.keys = data, keys

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int, int]:
        return self.data[self.keys[i]]
