"""The SST training mode and its loop.

The core :class:`facex_core.Trainer` is built around ``FaceModel(backbone, head)`` with a fixed
number of steps per epoch, so SST runs its own loop here. It reuses the core's pieces (optimiser
builder, learning-rate schedule, atomic checkpoints and their format, progress bar, tensorboardX
writer, train events, online validation, ``EpochSampler`` seeds) and mirrors the core loop's
behaviour: checkpoints every ``checkpoint_every`` steps and at every epoch end, ``--resume`` that
continues bit for bit, ``max_steps``, non-finite-loss guard, AMP, gradient clipping, ``best.pt``.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import time
from pathlib import Path
from typing import Any

import attrs
import torch
from torch.utils.data import DataLoader

from facex_core import ConfigError, Experiment, HeadOutput, Progress, TrainingMode, TrainResult

from ._core import (CHECKPOINT_FORMAT, CHECKPOINT_VERSION, build_optimizer, load_checkpoint, save_checkpoint,
                    validate_online)
from .data import SSTPairDataset, SubsetEpochSampler
from .plugin import SSTConfig
from .sst import PrototypeQueue, SSTModel


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
    """CPU generator of one step's random choices, fixed by (seed, epoch, step): resumable without state."""
    digest = hashlib.blake2b(f"sst/{seed}/{epoch}/{step}".encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") & 0x7FFF_FFFF_FFFF_FFFF)


def draw_step(gen: torch.Generator, batch: int) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Shuffle-BN permutations for g(x1) and g(x2), and whether g1 (else g2) is enqueued (p 0.5)."""
    perm2 = torch.randperm(batch, generator=gen)  # used first: g(x2) is computed before g(x1)
    perm1 = torch.randperm(batch, generator=gen)
    use_g1 = bool(torch.rand((), generator=gen) < 0.5)
    return perm1, perm2, use_g1


def _has_head(experiment: Experiment) -> bool:
    try:
        return experiment.head is not None
    except FileNotFoundError:  # a [head] whose class count waits for data not generated yet
        return True


def _distributed() -> bool:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size() > 1
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


class SSTTraining(TrainingMode):
    """Builds the probe backbone, its gallery copy and the prototype queue, then runs :class:`SSTTrainer`."""

    def __init__(self, config: SSTConfig) -> None:
        super().__init__(config)

    def run(self, experiment: Experiment, resume: bool = False) -> TrainResult:
        return self.build(experiment).fit(resume=resume)

    def build(self, experiment: Experiment) -> "SSTTrainer":
        """Check the experiment, seed, build the networks, queue and data; the loop is not started."""
        if _has_head(experiment):
            raise ConfigError(f"{experiment.source}: head: training mode 'sst' does not use a head (its prototype "
                              "queue replaces the classifier); remove the [head] section and set "
                              "training.scale / training.margin / training.loss_type instead")
        if experiment.data is None:
            raise ConfigError(f"{experiment.source}: data: section missing (needed for training)")
        if experiment.data.format == "recordio":
            raise ConfigError(f"{experiment.source}: data.format: 'recordio' is not supported by the sst mode yet; "
                              "use 'train_list' or 'image_folder'")
        data = experiment.data
        extra = data.augment.resolved()
        if self.config.augment and (extra.crop_resize or extra.rotation or extra.grayscale):
            raise ConfigError(f"{experiment.source}: data.augment: crop/rotation/greyscale would be applied on top "
                              "of the SST augmentation (training.augment = true); set training.augment = false "
                              "to use [data.augment] alone, or keep only its other transforms")
        experiment.seed_everything()
        backbone = experiment.build_backbone()
        bad_log = None
        if data.max_bad_images > 0:
            bad_log = experiment.bad_images_log
            bad_log.parent.mkdir(parents=True, exist_ok=True)
        dataset = SSTPairDataset(data.root, experiment.samples, input_size=backbone.input_size,
                                 augment=self.config.augment, flip=data.flip, crop_eye=data.crop_eye,
                                 extra=data.augment, bad_log=bad_log)
        cfg = self.config
        prototype = PrototypeQueue(backbone.embedding_size, cfg.queue_size, cfg.scale, cfg.loss_type, cfg.margin)
        return SSTTrainer(experiment, SSTModel(backbone, prototype), dataset, cfg)


class SSTTrainer:
    """Epochs of Semi-Siamese Training; resumable bit for bit from ``checkpoints/last.pt``."""

    def __init__(self, experiment: Experiment, model: SSTModel, dataset: SSTPairDataset,
                 config: SSTConfig) -> None:
        if _distributed():
            raise ValueError("training mode 'sst' runs in one process (the queue and shuffle-BN are not "
                             "distributed yet); launch it without torchrun")
        self.experiment = experiment
        self.model = model
        self.dataset = dataset
        self.config = config
        self.loop = config.loop
        self.device = experiment.device
        if self.loop.amp == "fp16" and self.device.type != "cuda":
            raise ValueError("training.loop.amp = 'fp16' needs CUDA; use 'bf16' on CPU")
        self.batch = self.loop.batch_size
        self.plan = plan_epochs(len(dataset), config.queue_size, self.batch, self.loop.epochs)
        self.model.to(self.device)
        if self.loop.channels_last:
            self.model.backbone.to(memory_format=torch.channels_last)
            self.model.gallery.to(memory_format=torch.channels_last)
        self.optimizer = build_optimizer(config.optimizer, model)  # the gallery has no trainable parameters
        self.scaler = torch.amp.GradScaler("cuda", growth_interval=100) if self.loop.amp == "fp16" else None
        self.out = Path(experiment.output_dir)
        self.ckpt_dir = self.out / "checkpoints"
        self.epoch = 0
        self.step_in_epoch = 0
        self.global_step = 0
        self.nonfinite_in_row = 0
        self.skipped = 0
        self.best: dict[str, Any] = {}
        #: labels held in the queue when the current epoch started: not sampled during it
        self.excluded = torch.zeros(0, dtype=torch.long)

    # -- checkpoints -------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
            "config": self.experiment.resolved(),
            "components": self.experiment.component_names(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler else {},
            "epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "global_step": self.global_step,
            "skipped": self.skipped, "best": dict(self.best), "world": 1,
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state() if self.device.type == "cuda" else torch.zeros(0)},
            "sst": {"excluded": self.excluded.clone()},
        }

    def save(self, epoch_end: bool = False) -> Path:
        last = self.ckpt_dir / "last.pt"
        payload = self.state()
        save_checkpoint(last, payload)
        if epoch_end:
            save_checkpoint(self.ckpt_dir / f"epoch_{self.epoch}.pt", payload)
        self.experiment.broadcast_train_event("checkpoint", {"path": str(last), "step": self.global_step})
        return last

    def restore(self, path: str | os.PathLike) -> None:
        ckpt = load_checkpoint(path)
        sst = ckpt.get("sst")
        if not isinstance(sst, dict) or "excluded" not in sst:
            raise ValueError(f"{path}: not an SST checkpoint (no prototype-queue state); it was written by "
                             "another training mode")
        if int(ckpt.get("world", 1)) != 1:
            raise ValueError(f"{path}: written with {ckpt.get('world')} processes, resuming with 1")
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scaler and ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch, self.step_in_epoch = int(ckpt["epoch"]), int(ckpt["step_in_epoch"])
        self.global_step = int(ckpt["global_step"])
        self.skipped = int(ckpt.get("skipped", 0))
        self.best = dict(ckpt.get("best", {}))
        self.excluded = sst["excluded"].to(torch.long).cpu()
        torch.set_rng_state(ckpt["rng"]["torch"])
        if self.device.type == "cuda" and ckpt["rng"]["cuda"].numel():
            torch.cuda.set_rng_state(ckpt["rng"]["cuda"])

    # -- loop --------------------------------------------------------------------------------
    def epoch_identities(self) -> tuple[list[int], int]:
        """Identity indices sampled this epoch and its number of steps; at an epoch's start the
        identities now in the queue become the excluded set (kept in checkpoints for mid-epoch resume)."""
        if self.step_in_epoch == 0:
            self.excluded = self.model.prototype.identities().cpu()
        indices = self.dataset.allowed(self.excluded.tolist())
        steps = len(indices) // self.batch
        if steps == 0:
            raise ValueError(f"epoch {self.epoch + 1}: {len(indices)} identities left after excluding the "
                             f"{self.excluded.numel()} in the prototype queue, fewer than one batch of {self.batch}")
        return indices, steps

    def _loader(self, indices: list[int]) -> DataLoader:
        sampler = SubsetEpochSampler(indices, self.experiment.seed, self.epoch, start=self.step_in_epoch * self.batch)
        workers = self.experiment.data.num_workers if self.experiment.data else 0
        return DataLoader(self.dataset, batch_size=self.batch, sampler=sampler, num_workers=workers,
                          drop_last=True, pin_memory=self.device.type == "cuda",
                          prefetch_factor=4 if workers else None)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.loop.amp == "none":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.loop.amp == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _optimizer_step(self) -> None:
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        if self.loop.clip_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.model.backbone.parameters(), self.loop.clip_grad_norm)
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.model.momentum_update(self.config.alpha)

    def train_step(self, pairs: torch.Tensor, labels: torch.Tensor, writer: Any = None) -> HeadOutput | None:
        """One step on B pairs (B×2×3×H×W); ``None`` when the loss was not finite (step dropped)."""
        perm1, perm2, use_g1 = draw_step(step_generator(self.experiment.seed, self.epoch, self.step_in_epoch),
                                         pairs.shape[0])
        pairs = pairs.to(self.device, non_blocking=True)
        labels = labels.to(self.device, non_blocking=True)
        fmt = torch.channels_last if self.loop.channels_last else torch.contiguous_format
        x1, x2 = pairs[:, 0].contiguous(memory_format=fmt), pairs[:, 1].contiguous(memory_format=fmt)
        with self._autocast():
            feats = self.model(x1, x2, perm1, perm2)
            out = self.model.prototype(feats.p1, feats.g2, feats.p2, feats.g1)
        loss = out.total_loss.float()
        self.step_in_epoch += 1
        if not bool(torch.isfinite(loss.detach())):
            # the batch is dropped entirely: no update, no momentum step, nothing enqueued
            self.optimizer.zero_grad(set_to_none=True)
            self.nonfinite_in_row += 1
            self.skipped += 1
            if writer:
                writer.add_scalar("train/skipped_steps", self.skipped, self.global_step)
            if self.nonfinite_in_row >= self.loop.max_nonfinite:
                raise FloatingPointError(
                    f"{self.nonfinite_in_row} non-finite losses in a row at step {self.global_step} "
                    "(lower the learning rate, enable clip_grad_norm, or use amp='bf16'/'none')")
            return None
        self.nonfinite_in_row = 0
        (self.scaler.scale(loss) if self.scaler else loss).backward()
        self._optimizer_step()
        self.model.prototype.enqueue(feats.g1 if use_g1 else feats.g2, labels)
        self.global_step += 1
        return out

    def _check_bad_images(self, writer: Any) -> None:
        """Stop once more unreadable images were skipped than ``data.max_bad_images`` allows."""
        log = self.dataset.bad_log
        if log is None or not log.exists():
            return
        lines = log.read_text(encoding="utf-8").splitlines()
        writer.add_scalar("train/bad_images", len(lines), self.global_step)
        limit = self.experiment.data.max_bad_images if self.experiment.data else 0
        if len(lines) > limit:
            raise RuntimeError(f"{len(lines)} unreadable training images (data.max_bad_images = {limit}); "
                               f"last: {lines[-1]}; all listed in {log}")

    def _validate(self, writer: Any) -> None:
        name, value = validate_online(self.experiment, self.model.backbone)
        writer.add_scalar(f"val/{name}", value, self.global_step)
        if not self.best or value > self.best["value"]:
            self.best = {"metric": name, "value": value, "step": self.global_step}
            save_checkpoint(self.ckpt_dir / "best.pt", self.state())
        self.model.train()

    def fit(self, resume: bool = False) -> TrainResult:
        last = self.ckpt_dir / "last.pt"
        if resume:
            if not last.exists():
                raise FileNotFoundError(f"--resume: no checkpoint at {last}")
            self.restore(last)
        writer = self.experiment.summary_writer()
        total_steps = sum(self.plan)  # exact unless steps are dropped as non-finite
        if self.loop.max_steps:
            total_steps = min(total_steps, self.loop.max_steps)
        bar = Progress(total_steps, desc="train sst", unit="step", initial=self.global_step)
        self.experiment.broadcast_train_event("start", {"global_step": self.global_step})
        loss_v = acc_v = float("nan")
        seen, t0 = 0, time.perf_counter()
        stopped = False
        base_lr = self.config.optimizer.lr
        lr = base_lr
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        while self.epoch < self.loop.epochs and not stopped:
            indices, steps = self.epoch_identities()
            if self.step_in_epoch == 0:
                writer.add_scalar("train/excluded_identities", self.excluded.numel(), self.global_step)
            for pairs, labels in self._loader(indices):
                if self.step_in_epoch >= steps:
                    break
                lr = self.config.schedule.lr(base_lr, self.epoch + self.step_in_epoch / steps, self.loop.epochs)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                out = self.train_step(pairs, labels, writer)
                if out is None:
                    continue
                seen += 2 * pairs.shape[0]
                end_of_epoch = self.step_in_epoch >= steps
                if self.global_step % self.loop.log_every == 0 or end_of_epoch:
                    loss_v = float(out.loss.detach())
                    acc_v = out.accuracy(labels)
                    ips = seen / max(1e-9, time.perf_counter() - t0)
                    for key, val in (("loss", loss_v), ("accuracy", acc_v), ("lr", lr), ("images_per_s", ips)):
                        writer.add_scalar(f"train/{key}", val, self.global_step)
                    self.experiment.broadcast_train_event(
                        "step", {"global_step": self.global_step, "loss": loss_v, "accuracy": acc_v, "lr": lr})
                bar.update(postfix=f"epoch {self.epoch + 1}/{self.loop.epochs} loss {loss_v:.3f} "
                                   f"acc {acc_v:.3f} lr {lr:.3g}")
                if self.global_step % self.loop.log_every == 0:
                    self._check_bad_images(writer)
                if self.loop.validate_every and self.global_step % self.loop.validate_every == 0:
                    self._validate(writer)
                if self.loop.max_steps and self.global_step >= self.loop.max_steps:
                    stopped = not end_of_epoch or self.epoch + 1 < self.loop.epochs
                    break
                if self.global_step % self.loop.checkpoint_every == 0 and not end_of_epoch:
                    self.save()
            if self.step_in_epoch >= steps:
                self.epoch += 1
                self.step_in_epoch = 0
                self.save(epoch_end=True)
                self.experiment.broadcast_train_event("epoch", {"epoch": self.epoch})
            else:
                self.save()
        bar.close()
        self._check_bad_images(writer)
        writer.close()
        ips = seen / max(1e-9, time.perf_counter() - t0)
        result = TrainResult(output_dir=str(self.out), last_checkpoint=str(last), epochs_done=self.epoch,
                             global_step=self.global_step, loss=loss_v, accuracy=acc_v, images_per_s=ips,
                             finished=not stopped, skipped_steps=self.skipped, best=dict(self.best))
        self.experiment.broadcast_train_event("end", attrs.asdict(result))
        return result
