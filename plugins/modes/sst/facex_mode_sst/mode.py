"""The SST training mode: Semi-Siamese Training on the core training engine.

The core :class:`facex_core.Trainer` runs the loop (optimiser, schedule, accumulation, clipping,
AMP and the non-finite guard, channels_last, compile, DDP, checkpoints and resume, validation,
progress); this mode supplies the SST-specific parts through the :class:`TrainingMode` hooks:

* ``epoch_indices``: the identities not in the prototype queue when the epoch starts;
* ``prepare_batch``: a batch of pairs → the two views ``x1``, ``x2`` on the device;
* ``begin_step``: shuffle-BN gallery features of the whole optimiser step (every micro-batch,
  every rank), placed in the order of the step's global batch;
* ``compute_loss``: probe features of one micro-batch scored against the queue;
* ``after_optimizer_step``: momentum update of the gallery, then one enqueue of the step;
* ``extra_state``: the epoch's exclusion set (queue and gallery are in the model's state_dict).

Gradient accumulation: the queue is written once per *optimiser* step, and every micro-batch is
scored against the gallery features of the whole step, so k micro-batches compute the same loss
and gradient as one batch of k times the size (exactly, for networks without batch statistics;
BatchNorm layers, in the probe as in conventional training and in the gallery, see micro-batches).
"""
from __future__ import annotations

import hashlib
from typing import Any, Sequence

import torch

from facex_core import ConfigError, Experiment, HeadOutput, Trainer, TrainingMode, TrainResult

from .data import SSTPairDataset, sst_augment
from .plugin import SSTConfig
from .sst import PrototypeQueue, SSTModel, gather_ranks, shuffled_forward


def plan_epochs(num_identities: int, queue_size: int, batch_size: int, epochs: int) -> list[int]:
    """Steps of each epoch when every step enqueues: epoch ``e`` samples the identities that are not
    in the queue at its start (the queue's labels are always distinct, so that is the number of
    filled slots). Raises a clear error when an epoch would not have one full batch."""
    plan, filled = [], 0
    for epoch in range(epochs):
        left = num_identities - filled
        steps = left // batch_size
        if steps == 0:
            if epoch == 0:
                raise ValueError(f"data: {num_identities} identities is fewer than one batch "
                                 f"(training.loop.batch_size = {batch_size})")
            raise ValueError(
                f"training.queue_size = {queue_size} is too large for {num_identities} identities: from epoch "
                f"{epoch + 1} the {filled} identities held in the prototype queue are excluded, leaving {left} "
                f"< batch_size {batch_size}. Use queue_size <= {num_identities - batch_size} (a multiple of "
                "the batch size) or more identities")
        plan.append(steps)
        filled = min(queue_size, filled + steps * batch_size)
    return plan


def step_generator(seed: int, epoch: int, step: int) -> torch.Generator:
    """CPU generator of one step's random choices, fixed by (seed, epoch, micro-step at which the
    optimiser step starts): resumable without state, the same on every rank."""
    digest = hashlib.blake2b(f"sst/{seed}/{epoch}/{step}".encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") & 0x7FFF_FFFF_FFFF_FFFF)


def draw_step(gen: torch.Generator, size: int, micro_batches: int = 1) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], bool]:
    """Whether g1 (else g2) is enqueued (p 0.5, once per step; drawn first, so it does not depend on
    how the step is split), then shuffle-BN permutations ``(perm1, perm2)`` of ``size`` rows for
    g(x1) and g(x2) of each micro-batch."""
    use_g1 = bool(torch.rand((), generator=gen) < 0.5)
    perms = []
    for _ in range(micro_batches):
        perm2 = torch.randperm(size, generator=gen)  # drawn first: g(x2) is computed before g(x1)
        perm1 = torch.randperm(size, generator=gen)
        perms.append((perm1, perm2))
    return perms, use_g1


def step_order(features: list[torch.Tensor], world: int) -> torch.Tensor:
    """Rows of the step in the order of its global batch.

    ``features[j]`` holds micro-batch ``j`` of every rank, rank-ordered (``world × b`` rows); the
    core's sampler gives rank ``r`` the epoch positions ``r, r + world, …``, so row ``t`` of rank
    ``r`` in micro-batch ``j`` is position ``(j·b + t)·world + r`` of the step.
    """
    stacked = torch.stack(features)  # k × (world·b) × …
    k, rows = stacked.shape[:2]
    stacked = stacked.reshape(k, world, rows // world, *stacked.shape[2:]).transpose(1, 2)
    return stacked.reshape(k * rows, *stacked.shape[3:])


def step_rows(index: int, batch: int, world: int, rank: int) -> torch.Tensor:
    """Positions in the step of the ``batch`` rows of micro-batch ``index`` on ``rank``."""
    return (index * batch + torch.arange(batch)) * world + rank


class SSTTraining(TrainingMode):
    """Builds the probe backbone, its gallery copy, the prototype queue and the pair data, and runs
    them on the core :class:`Trainer` with the SST hooks."""

    views_per_sample = 2

    def __init__(self, config: SSTConfig) -> None:
        super().__init__(config)
        #: labels held in the queue when the current epoch started: not sampled during it
        self.excluded = torch.zeros(0, dtype=torch.long)
        self._step: dict[str, Any] = {}
        self._gallery: torch.nn.Module | None = None  # compiled gallery network, with loop.compile

    def run(self, experiment: Experiment, resume: bool = False) -> TrainResult:
        return self.build(experiment).fit(resume=resume)

    def build(self, experiment: Experiment) -> Trainer:
        """Check the experiment, seed, build the networks, queue, data and engine; nothing is trained."""
        if experiment.has_head:
            raise ConfigError(f"{experiment.source}: head: training mode 'sst' does not use a head (its prototype "
                              "queue replaces the classifier); remove the [head] section and set "
                              "training.scale / training.margin / training.loss_type instead")
        if experiment.data is None:
            raise ConfigError(f"{experiment.source}: data: section missing (needed for training)")
        experiment.seed_everything()
        backbone = experiment.build_backbone()
        images = experiment.train_dataset(backbone.input_size)
        if self.config.augment:  # FaceX-Zoo's SST recipe, explicit [data.augment] keys still apply
            images.augment = sst_augment(experiment.data.augment)
        dataset = SSTPairDataset(images)
        cfg = self.config
        plan_epochs(len(dataset), cfg.queue_size, cfg.loop.batch_size, cfg.loop.epochs)  # fail early and clearly
        prototype = PrototypeQueue(backbone.embedding_size, cfg.queue_size, cfg.scale, cfg.loss_type, cfg.margin)
        return Trainer(experiment, SSTModel(backbone, prototype), dataset, cfg.optimizer, cfg.schedule, cfg.loop,
                       mode=self)

    # -- engine hooks ------------------------------------------------------------------------
    def epoch_indices(self, trainer: Trainer) -> Sequence[int]:
        if trainer.step_in_epoch == 0:
            self.excluded = trainer.model.prototype.identities().cpu()
            if trainer.writer:
                trainer.writer.add_scalar("train/excluded_identities", self.excluded.numel(), trainer.global_step)
        return trainer.dataset.allowed(self.excluded.tolist())

    def planned_steps(self, trainer: Trainer) -> int:
        return sum(plan_epochs(len(trainer.dataset), self.config.queue_size, trainer.loop.batch_size,
                               trainer.loop.epochs))

    def prepare_batch(self, trainer: Trainer, batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pairs, labels = batch
        return (trainer.to_device(pairs[:, 0]), trainer.to_device(pairs[:, 1]),
                labels.to(trainer.device, non_blocking=True))

    def begin_step(self, trainer: Trainer, batches: list[Any]) -> None:
        gallery = self._gallery if self._gallery is not None else trainer.model.gallery
        b = batches[0][0].shape[0]
        perms, use_g1 = draw_step(step_generator(trainer.experiment.seed, trainer.epoch, trainer.step_in_epoch),
                                  b * trainer.world, len(batches))
        g1, g2, labels = [], [], []
        with trainer.autocast():
            for (x1, x2, lab), (perm1, perm2) in zip(batches, perms):
                g2.append(shuffled_forward(gallery, x2, perm2))
                g1.append(shuffled_forward(gallery, x1, perm1))
                labels.append(gather_ranks(lab))
        self._step = {"g1": step_order(g1, trainer.world), "g2": step_order(g2, trainer.world),
                      "labels": step_order(labels, trainer.world), "use_g1": use_g1, "batch": b}

    def compute_loss(self, trainer: Trainer, batch: Any, index: int) -> HeadOutput:
        x1, x2, _ = batch
        p1, p2 = trainer.forward_model(x1, x2)
        rows = step_rows(index, self._step["batch"], trainer.world, trainer.rank)
        return trainer.model.prototype(p1, self._step["g2"], p2, self._step["g1"], rows)

    def after_optimizer_step(self, trainer: Trainer) -> None:
        trainer.model.momentum_update(self.config.alpha)
        step = self._step
        trainer.model.prototype.enqueue(step["g1"] if step["use_g1"] else step["g2"], step["labels"])
        self._step = {}

    def compile_model(self, trainer: Trainer) -> torch.nn.Module:
        self._gallery = torch.compile(trainer.model.gallery)
        return torch.compile(trainer.model)

    def extra_state(self, trainer: Trainer) -> dict[str, Any]:
        return {"excluded": self.excluded.clone()}

    def load_extra_state(self, trainer: Trainer, state: dict[str, Any] | None, source: str) -> None:
        if not isinstance(state, dict) or "excluded" not in state:
            raise ValueError(f"{source}: not an SST checkpoint (no prototype-queue state); it was written by "
                             "another training mode")
        self.excluded = state["excluded"].to(torch.long).cpu()
