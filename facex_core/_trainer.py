"""The training engine shared by training modes: loop, SGD, multi-step LR, atomic checkpoints,
bit-exact resume, tensorboardX scalars and a progress bar with ETA."""
from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import attrs
import torch
from torch import nn
from torch.utils.data import DataLoader

from ._data import EpochSampler, FaceImageDataset
from ._head import Head, HeadOutput
from ._train_config import LoopConfig, OptimizerConfig, ScheduleConfig
from ._progress import Progress
from ._training_mode import TrainResult

if TYPE_CHECKING:
    from ._experiment import Experiment

CHECKPOINT_FORMAT = "facex-checkpoint"
CHECKPOINT_VERSION = 1


class FaceModel(nn.Module):
    """Backbone + head; state-dict keys are ``backbone.*`` and ``head.*`` as in FaceX-Zoo."""

    def __init__(self, backbone: nn.Module, head: Head) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> HeadOutput:
        return self.head(self.backbone(images), labels)


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Write atomically: a killed process leaves either the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        torch.save(payload, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a FaceX checkpoint safely (``weights_only=True``: no arbitrary code is unpickled)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a FaceX checkpoint")
    return ckpt


def build_optimizer(cfg: OptimizerConfig, params: Any) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


class Trainer:
    """Runs epochs of ``model`` over ``dataset``; resumable bit for bit from ``last.pt``."""

    def __init__(self, experiment: "Experiment", model: FaceModel, dataset: FaceImageDataset,
                 optimizer: OptimizerConfig, schedule: ScheduleConfig, loop: LoopConfig,
                 extra_state: Callable[[], dict] | None = None) -> None:
        self.experiment = experiment
        self.model = model
        self.dataset = dataset
        self.optimizer_cfg = optimizer
        self.schedule = schedule
        self.loop = loop
        self.device = experiment.device
        self.model.to(self.device)
        self.optimizer = build_optimizer(optimizer, [p for p in model.parameters() if p.requires_grad])
        self.out = Path(experiment.output_dir)
        self.ckpt_dir = self.out / "checkpoints"
        self.steps_per_epoch = len(dataset) // loop.batch_size
        if self.steps_per_epoch == 0:
            raise ValueError(f"data: {len(dataset)} images is fewer than one batch "
                             f"(training.loop.batch_size = {loop.batch_size})")
        self.epoch = 0
        self.step_in_epoch = 0
        self.global_step = 0

    # -- checkpoints -------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
            "config": self.experiment.resolved(),
            "components": self.experiment.component_names(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "global_step": self.global_step,
            "rng": {"torch": torch.get_rng_state()},
        }

    def save(self, epoch_end: bool = False) -> Path:
        payload = self.state()
        last = self.ckpt_dir / "last.pt"
        save_checkpoint(last, payload)
        if epoch_end:
            save_checkpoint(self.ckpt_dir / f"epoch_{self.epoch}.pt", payload)
        self.experiment.broadcast_train_event("checkpoint", {"path": str(last), "step": self.global_step})
        return last

    def restore(self, path: str | os.PathLike) -> None:
        ckpt = load_checkpoint(path)
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.epoch, self.step_in_epoch = int(ckpt["epoch"]), int(ckpt["step_in_epoch"])
        self.global_step = int(ckpt["global_step"])
        torch.set_rng_state(ckpt["rng"]["torch"])

    # -- loop --------------------------------------------------------------------------------
    def _loader(self, epoch: int, start_step: int) -> DataLoader:
        sampler = EpochSampler(len(self.dataset), self.experiment.seed, epoch,
                               start=start_step * self.loop.batch_size)
        workers = self.experiment.data.num_workers if self.experiment.data else 0
        return DataLoader(self.dataset, batch_size=self.loop.batch_size, sampler=sampler,
                          num_workers=workers, drop_last=True,
                          pin_memory=self.device.type == "cuda", persistent_workers=False)

    def fit(self, resume: bool = False) -> TrainResult:
        last = self.ckpt_dir / "last.pt"
        if resume:
            if not last.exists():
                raise FileNotFoundError(f"--resume: no checkpoint at {last}")
            self.restore(last)
        else:
            torch.manual_seed(self.experiment.seed)
        writer = self.experiment.summary_writer()
        total_steps = self.loop.epochs * self.steps_per_epoch
        if self.loop.max_steps:
            total_steps = min(total_steps, self.loop.max_steps)
        bar = Progress(total_steps, desc="train", unit="step", initial=self.global_step)
        self.experiment.broadcast_train_event("start", {"global_step": self.global_step})
        loss_v = acc_v = float("nan")
        seen, t0 = 0, time.perf_counter()
        stopped = False
        self.model.train()
        while self.epoch < self.loop.epochs and not stopped:
            lr = self.schedule.lr(self.optimizer_cfg.lr, self.epoch)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            for images, labels in self._loader(self.epoch, self.step_in_epoch):
                images = images.to(self.device, non_blocking=True)
                labels = labels.to(self.device, non_blocking=True)
                out = self.model(images, labels)
                loss = out.total_loss
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"non-finite loss {loss.item()} at step {self.global_step}")
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                self.step_in_epoch += 1
                self.global_step += 1
                seen += images.shape[0]
                if self.global_step % self.loop.log_every == 0 or self.step_in_epoch == self.steps_per_epoch:
                    loss_v = float(loss.detach())
                    acc_v = out.accuracy(labels)
                    ips = seen / max(1e-9, time.perf_counter() - t0)
                    for key, val in (("loss", loss_v), ("accuracy", acc_v), ("lr", lr), ("images_per_s", ips)):
                        writer.add_scalar(f"train/{key}", val, self.global_step)
                    for key, val in out.extra_losses.items():
                        writer.add_scalar(f"train/{key}", float(val.detach()), self.global_step)
                    self.experiment.broadcast_train_event(
                        "step", {"global_step": self.global_step, "loss": loss_v, "accuracy": acc_v, "lr": lr})
                bar.update(postfix=f"epoch {self.epoch + 1}/{self.loop.epochs} loss {loss_v:.3f} acc {acc_v:.3f} lr {lr:g}")
                if self.loop.max_steps and self.global_step >= self.loop.max_steps:
                    stopped = self.step_in_epoch < self.steps_per_epoch or self.epoch + 1 < self.loop.epochs
                    break
                if self.global_step % self.loop.checkpoint_every == 0:
                    self.save()
            if self.step_in_epoch >= self.steps_per_epoch:
                self.epoch += 1
                self.step_in_epoch = 0
                self.save(epoch_end=True)
                self.experiment.broadcast_train_event("epoch", {"epoch": self.epoch})
            else:
                self.save()
        bar.close()
        writer.close()
        ips = seen / max(1e-9, time.perf_counter() - t0)
        result = TrainResult(output_dir=str(self.out), last_checkpoint=str(last), epochs_done=self.epoch,
                             global_step=self.global_step, loss=loss_v, accuracy=acc_v,
                             images_per_s=ips, finished=not stopped)
        self.experiment.broadcast_train_event("end", attrs.asdict(result))
        return result
