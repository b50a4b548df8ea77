"""The training engine every training mode runs on (what a method changes comes from its
:class:`TrainingMode` hooks, whose defaults are conventional training)."""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import attrs
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..data.datasets import EpochSampler
from ..interfaces.head import FaceModel, HeadOutput
from .checkpoint import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, load_checkpoint, save_checkpoint
from ..runtime.distributed import sum_gradients_hook, world_rank
from ..runtime.progress import Progress
from .train_config import LoopConfig, OptimizerConfig, ScheduleConfig
from ..interfaces.training_mode import TrainingMode, TrainResult
from ..errors import ConfigError, DataError, NonFiniteError
from ..runtime.jobs import FolderLock
from ..runtime.files import write_atomic
from ..configs.toml import to_toml
from .experiment import Experiment
from .extract import validate_online

#: Settings a resumed run may change: they decide how long and how visibly it runs, or the learning-rate
#: trajectory from here on, not the state a checkpoint holds.
RESUMABLE_CHANGES = ("experiment.name", "experiment.threads", "experiment.device", "prepare", "evaluation",
                     "data.num_workers", "data.max_bad_images", "training.schedule", "training.loop.epochs",
                     "training.loop.max_steps", "training.loop.checkpoint_every", "training.loop.log_every",
                     "training.loop.validate_every", "training.loop.max_nonfinite", "training.loop.compile",
                     "training.loop.channels_last")


#: Rank 0 logs to ``<output_dir>/train.log`` in :meth:`Trainer.fit`: figures every ``log_every`` steps,
#: checkpoints, validation, warnings (Python's too) and why a run stopped.
train_log = logging.getLogger("facex_core.train")


@contextlib.contextmanager
def run_log(path: Path) -> Iterator[None]:
    """Append :data:`train_log`'s records and every Python warning shown meanwhile to ``path``."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    train_log.addHandler(handler)
    train_log.setLevel(logging.INFO)
    shown = warnings.showwarning

    def show(message: Any, category: type, filename: str, lineno: int, *rest: Any) -> None:
        train_log.warning("%s: %s (%s:%s)", category.__name__, message, filename, lineno)
        shown(message, category, filename, lineno, *rest)

    warnings.showwarning = show
    try:
        yield
    except BaseException as exc:
        train_log.error("stopped: %s: %s", type(exc).__name__, exc)
        raise
    finally:
        warnings.showwarning = shown
        train_log.removeHandler(handler)
        handler.close()


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix[:-1]: tree}
    return {k: v for key, value in tree.items() for k, v in _flatten(value, f"{prefix}{key}.").items()}


def resume_changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], list[str]]:
    """``(refused, allowed)``: the settings that differ between a checkpoint's config and the config
    a run resumes with, as ``key: old -> new``, split by :data:`RESUMABLE_CHANGES`."""
    a, b = _flatten(old), _flatten(new)
    refused, allowed = [], []
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key) and not (key == "head.num_classes" and key not in b):
            text = f"{key}: {a.get(key, '<unset>')!r} -> {b.get(key, '<unset>')!r}"
            safe = any(key == s or key.startswith(s + ".") for s in RESUMABLE_CHANGES)
            (allowed if safe else refused).append(text)
    return refused, allowed


def build_optimizer(cfg: OptimizerConfig, model: nn.Module,
                    parts: list[dict[str, Any]] | None = None) -> torch.optim.Optimizer:
    """SGD (FaceX-Zoo) or AdamW over the trainable parameters, optionally without decay on 1-D ones; ``parts``
    groups them (``{"params": [...], "lr_scale": 0.1}``: the schedule's rate times 0.1), default: one group."""
    parts = parts or [{"params": list(model.parameters())}]
    groups = []
    for part in parts:
        params = [p for p in part["params"] if p.requires_grad]
        extra = {k: v for k, v in part.items() if k != "params"}
        if cfg.no_decay_1d:
            groups += [{**extra, "params": [p for p in params if p.ndim > 1], "weight_decay": cfg.weight_decay},
                       {**extra, "params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}]
        else:
            groups.append({**extra, "params": params, "weight_decay": cfg.weight_decay})
    if cfg.name == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)


class _SubsetSampler(EpochSampler):
    """:class:`EpochSampler` over ``indices`` (``None``: all items), set per epoch."""

    indices: Sequence[int] | None = None

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for pos, seed in super().__iter__():
            yield (pos if self.indices is None else self.indices[pos]), seed


class _DefaultHooks(TrainingMode):
    """The hooks' defaults (conventional training) for a Trainer built without a mode."""

    def run(self, experiment: Any, resume: bool = False) -> TrainResult:  # pragma: no cover
        raise TypeError("a Trainer's default hooks do not run experiments")


class Trainer:
    """Runs epochs of ``model`` over ``dataset`` with ``mode``'s hooks (default: conventional training);
    resumable bit for bit from ``last.pt``."""

    def __init__(self, experiment: "Experiment", model: nn.Module, dataset: Dataset,
                 optimizer: OptimizerConfig, schedule: ScheduleConfig, loop: LoopConfig,
                 mode: TrainingMode | None = None,
                 validate: Callable[[nn.Module], tuple[str, float]] | None = None) -> None:
        self.experiment, self.model = experiment, model
        self.mode = mode if mode is not None else _DefaultHooks(None)
        # every loop.validate_every steps: backbone -> (metric name, value); default: the first protocol
        self.validate = validate or (lambda backbone: validate_online(experiment, backbone))
        self.dataset, self.optimizer_cfg, self.schedule, self.loop = dataset, optimizer, schedule, loop
        self.world, self.rank = world_rank()
        self.device = experiment.device
        if loop.batch_size % (self.world * loop.grad_accumulation):
            raise ConfigError(f"training.loop.batch_size = {loop.batch_size} must divide by world size "
                             f"{self.world} × grad_accumulation {loop.grad_accumulation}")
        self.micro_batch = loop.batch_size // (self.world * loop.grad_accumulation)
        if loop.amp == "fp16" and self.device.type != "cuda":
            raise ConfigError("training.loop.amp = 'fp16' needs CUDA; use 'bf16' on CPU")
        self.model.to(self.device)
        if loop.channels_last:  # only 4-D weights change: convolutions of every sub-network
            self.model.to(memory_format=torch.channels_last)
        self.optimizer = build_optimizer(optimizer, model, self.mode.parameter_groups(self))
        self.scaler = torch.amp.GradScaler("cuda", growth_interval=100) if loop.amp == "fp16" else None
        self.forward_model: nn.Module = model
        self._wrap_parallel()
        self.out = Path(experiment.output_dir)
        self.ckpt_dir = self.out / "checkpoints"
        self.steps_per_epoch = self._micro_steps(len(dataset), "data", "images")  # of the current epoch
        self.epoch = self.step_in_epoch = self.global_step = 0  # step_in_epoch: micro-steps; global_step: optimiser
        self.nonfinite_in_row = self.skipped = self.bad_images = 0
        self.best: dict[str, Any] = {}
        self.writer: Any = None  # tensorboardX writer of rank 0 during fit(), for hooks that log
        self._data_loader: DataLoader | None = None
        self._sampler: _SubsetSampler | None = None
        self._epoch_items: list[int] | None = None

    def _micro_steps(self, items: int, where: str, what: str) -> int:
        """Micro-steps an epoch of ``items`` samples gives: whole optimiser steps only, at least one."""
        steps = items // (self.micro_batch * self.world)
        steps -= steps % self.loop.grad_accumulation
        if steps == 0:
            raise ConfigError(f"{where}: {items} {what} is fewer than one batch "
                              f"(training.loop.batch_size = {self.loop.batch_size})")
        return steps

    def to_device(self, images: torch.Tensor) -> torch.Tensor:
        """An image batch on the training device, in channels_last when the loop asks for it."""
        images = images.to(self.device, non_blocking=True)
        if self.loop.channels_last and images.dim() == 4:
            images = images.contiguous(memory_format=torch.channels_last)
        return images

    def _wrap_parallel(self) -> None:
        if self.world == 1:
            if self.loop.compile:  # compiled copy for the forward pass only: checkpoints keep plain keys
                self.forward_model = self.mode.compile_model(self)
            return
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.device.index] if self.device.type == "cuda" else None
        if self._sharded:
            # centres are split across ranks: only the backbone is replicated, and its gradients are
            # summed because each rank already back-propagates the global batch's loss
            ddp = DDP(self.model.backbone, device_ids=ids, broadcast_buffers=False)
            ddp.register_comm_hook(None, sum_gradients_hook)
            self.forward_model = FaceModel(ddp, self.model.head)
        else:
            self.forward_model = DDP(self.model, device_ids=ids, broadcast_buffers=False)

    # -- checkpoints -------------------------------------------------------------------------
    @property
    def _sharded(self) -> bool:
        """Class centres split across ranks: every rank then saves its own shard."""
        return bool(getattr(getattr(getattr(self.model, "head", None), "classifier", None), "sharded", False))

    def _ckpt_name(self, base: str) -> str:
        return f"{base}.pt" if self.rank == 0 or not self._sharded else f"{base}.rank{self.rank}.pt"

    def state(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
            "config": self.experiment.resolved(), "components": self.experiment.component_names(),
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler else {},
            "epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "global_step": self.global_step,
            "skipped": self.skipped, "best": dict(self.best), "world": self.world,
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state() if self.device.type == "cuda" else torch.zeros(0)},
            "mode_state": self.mode.extra_state(self),
        }

    def save(self, epoch_end: bool = False) -> Path:
        last = self.ckpt_dir / self._ckpt_name("last")
        if self.rank == 0 or self._sharded:
            payload = self.state()
            save_checkpoint(last, payload)
            if epoch_end:
                save_checkpoint(self.ckpt_dir / self._ckpt_name(f"epoch_{self.epoch}"), payload)
        if self.rank == 0:
            train_log.info("checkpoint %s at step %d", last, self.global_step)
            self.experiment.broadcast_train_event("checkpoint", {"path": str(last), "step": self.global_step})
        return last

    def restore(self, path: str | os.PathLike) -> None:
        ckpt = load_checkpoint(path)
        if int(ckpt.get("world", 1)) != self.world:
            raise ConfigError(f"{path}: written with {ckpt.get('world')} processes, resuming with {self.world}; "
                              "resume with the same number of processes")
        refused, allowed = resume_changes(ckpt.get("config", {}), self.experiment.resolved())
        if refused:
            raise ConfigError(f"{self.experiment.source}: --resume with settings that change the model or the "
                              f"optimiser state of {path}: {'; '.join(refused)}. Restore them, or train into "
                              "another experiment.output_dir")
        if allowed and self.rank == 0:
            print("facex-core: resuming with changed settings: " + "; ".join(allowed), file=sys.stderr)
            train_log.warning("resuming with changed settings: %s", "; ".join(allowed))
        self.mode.load_extra_state(self, ckpt.get("mode_state"), str(path))
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scaler and ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch, self.step_in_epoch = int(ckpt["epoch"]), int(ckpt["step_in_epoch"])
        self.global_step = int(ckpt["global_step"])
        self.skipped = int(ckpt.get("skipped", 0))
        self.best = dict(ckpt.get("best", {}))
        torch.set_rng_state(ckpt["rng"]["torch"])
        if self.device.type == "cuda" and ckpt["rng"]["cuda"].numel():
            torch.cuda.set_rng_state(ckpt["rng"]["cuda"])

    # -- loop --------------------------------------------------------------------------------
    def _loader(self, epoch: int, start_step: int) -> DataLoader:
        """One loader for the whole run (workers persist); its sampler moves to ``epoch``, the items
        the mode chose and the position after ``start_step``."""
        if self._data_loader is None:
            self._sampler = _SubsetSampler(len(self.dataset), self.experiment.seed, epoch, rank=self.rank,
                                           world=self.world)
            workers = self.experiment.data.num_workers if self.experiment.data else 0
            self._data_loader = DataLoader(self.dataset, batch_size=self.micro_batch, sampler=self._sampler,
                                           num_workers=workers, drop_last=True, pin_memory=self.device.type == "cuda",
                                           persistent_workers=workers > 0, prefetch_factor=4 if workers else None,
                                           # its own generator: creating the loader (again, on resume) must not
                                           # draw from the global RNG that checkpoints restore
                                           generator=torch.Generator().manual_seed(self.experiment.seed))
        self._sampler.epoch, self._sampler.start = epoch, start_step * self.micro_batch
        self._sampler.indices = self._epoch_items
        self._sampler.size = len(self.dataset) if self._epoch_items is None else len(self._epoch_items)
        return self._data_loader

    def _plan_epoch(self) -> None:
        """Ask the mode which items the current epoch samples; set its number of micro-steps."""
        items = self.mode.epoch_indices(self)
        self._epoch_items = None if items is None else list(items)
        count = len(self.dataset) if items is None else len(self._epoch_items)
        self.steps_per_epoch = self._micro_steps(count, f"epoch {self.epoch + 1}", "samples")

    def autocast(self) -> contextlib.AbstractContextManager:
        """The loop's mixed-precision context (``loop.amp``), for hooks that run networks."""
        if self.loop.amp == "none":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16 if self.loop.amp == "bf16" else torch.float16)

    def _optimizer_step(self) -> None:
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        if self.loop.clip_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.loop.clip_grad_norm)
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def _check_bad_images(self, writer: Any) -> None:
        """Stop once more unreadable images were skipped than ``data.max_bad_images`` allows."""
        log = getattr(self.dataset, "bad_log", None)
        if log is None or not log.exists():
            return
        lines = log.read_text(encoding="utf-8").splitlines()
        if writer:
            writer.add_scalar("train/bad_images", len(lines), self.global_step)
        if len(lines) > self.bad_images:
            self.bad_images = len(lines)
            train_log.warning("%d unreadable training images skipped so far (listed in %s)", len(lines), log)
        limit = self.experiment.data.max_bad_images if self.experiment.data else 0
        if len(lines) > limit:
            raise DataError(f"{len(lines)} unreadable training images (data.max_bad_images = {limit}); "
                               f"last: {lines[-1]}; all listed in {log}")

    def _validate(self, writer: Any) -> None:
        name, value = self.validate(self.model.backbone)
        writer.add_scalar(f"val/{name}", value, self.global_step)
        train_log.info("step %d: val/%s %.6g", self.global_step, name, value)
        if not self.best or value > self.best["value"]:
            self.best = {"metric": name, "value": value, "step": self.global_step}
            save_checkpoint(self.ckpt_dir / "best.pt", self.state())
        self.model.train()

    def _all_finite(self, loss: torch.Tensor) -> bool:
        """Whether the loss is finite on every rank: ranks drop a step together, or the ones that
        back-propagate would wait for the others forever."""
        finite = torch.isfinite(loss.detach()).all().to(torch.float32)
        if self.world > 1:
            import torch.distributed as dist

            dist.all_reduce(finite, op=dist.ReduceOp.MIN)
        return bool(finite)

    def _drop_step(self) -> None:
        """A NaN/inf step is dropped (its gradients too) rather than poisoning the weights."""
        self.optimizer.zero_grad(set_to_none=True)
        self.nonfinite_in_row += 1
        self.skipped += 1
        if self.writer:
            self.writer.add_scalar("train/skipped_steps", self.skipped, self.global_step)
        train_log.warning("step %d: non-finite loss, step dropped (%d so far)", self.global_step + 1, self.skipped)
        if self.nonfinite_in_row >= self.loop.max_nonfinite:
            raise NonFiniteError(f"{self.nonfinite_in_row} non-finite losses in a row at step {self.global_step} "
                                 "(lower the learning rate, enable clip_grad_norm, or use amp='bf16'/'none')")

    def train_step(self, micro_batches: list[Any]) -> tuple[HeadOutput, Any] | None:
        """One optimiser step over ``grad_accumulation`` micro-batches: the last one's output and
        prepared batch, or ``None`` when a loss was not finite and the step was dropped."""
        accum = len(micro_batches)
        batches = [self.mode.prepare_batch(self, b) for b in micro_batches]
        self.mode.begin_step(self, batches)
        out = batch = None
        for index, batch in enumerate(batches):
            with self.autocast():
                out = self.mode.compute_loss(self, batch, index)
            loss = out.total_loss.float()
            if not self._all_finite(loss):
                self.step_in_epoch += accum
                self._drop_step()
                return None
            (self.scaler.scale(loss / accum) if self.scaler else loss / accum).backward()
        self.nonfinite_in_row = 0
        self.step_in_epoch += accum
        self._optimizer_step()
        self.global_step += 1
        self.mode.after_optimizer_step(self)
        return out, batch

    def _set_lr(self) -> float:
        position = self.epoch + self.step_in_epoch / self.steps_per_epoch
        lr = self.schedule.lr(self.optimizer_cfg.lr, position, self.loop.epochs)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        return lr

    def fit(self, resume: bool = False) -> TrainResult:
        """Train to the end (or ``loop.max_steps``) in the locked run folder; one that holds an
        earlier run's checkpoints is refused unless ``resume`` (or ``experiment.overwrite``)."""
        last = self.ckpt_dir / self._ckpt_name("last")
        main = self.rank == 0
        with FolderLock(self.out, "training run") if main else contextlib.nullcontext(), \
                run_log(self.out / "train.log") if main else contextlib.nullcontext():  # the lock makes the folder
            if resume:
                if not last.exists():
                    raise ConfigError(f"--resume: no checkpoint at {last} (nothing to continue; drop --resume)")
                self.restore(last)
            else:
                earlier = sorted(p.name for p in self.ckpt_dir.glob("*.pt"))
                if earlier and not self.experiment.overwrite:
                    raise ConfigError(f"{self.out}: holds the checkpoints of an earlier run ({', '.join(earlier[:4])}"
                                      f"{', ...' if len(earlier) > 4 else ''}); continue it with --resume, start "
                                      "afresh with --overwrite (deletes them), or choose another experiment.output_dir")
                for name in earlier:  # --overwrite
                    (self.ckpt_dir / name).unlink()
            return self._fit(last)

    def _fit(self, last: Path) -> TrainResult:
        main = self.rank == 0
        writer = self.writer = self.experiment.summary_writer() if main else None
        accum = self.loop.grad_accumulation
        total_steps = min(self.mode.planned_steps(self), self.loop.max_steps or float("inf"))
        bar = Progress(total_steps, desc="train", unit="step", initial=self.global_step)
        bar.disabled = bar.disabled or not main
        if main:
            write_atomic(self.out / "config.toml", to_toml(self.experiment.resolved()))  # what this run trains
            train_log.info("%s at step %d of %d (config: %s)", "resuming" if self.global_step else "starting",
                           self.global_step, total_steps, self.out / "config.toml")
            self.experiment.broadcast_train_event("start", {"global_step": self.global_step})
        loss_v = acc_v = float("nan")
        seen, t0 = 0, time.perf_counter()
        stopped = False
        lr = self.optimizer_cfg.lr
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        while self.epoch < self.loop.epochs and not stopped:
            self._plan_epoch()
            group: list[Any] = []
            for micro_batch in self._loader(self.epoch, self.step_in_epoch):
                if self.step_in_epoch >= self.steps_per_epoch:
                    break
                group.append(micro_batch)
                if len(group) < accum:
                    continue
                lr = self._set_lr()
                done = self.train_step(group)
                group = []
                if done is None:
                    continue
                out, batch = done
                seen += self.loop.batch_size * self.mode.views_per_sample  # images of all processes
                end_of_epoch = self.step_in_epoch >= self.steps_per_epoch
                if main and (self.global_step % self.loop.log_every == 0 or end_of_epoch):
                    loss_v, acc_v = float(out.loss.detach()), out.accuracy(self.mode.batch_labels(batch))
                    ips = seen / max(1e-9, time.perf_counter() - t0)
                    head = getattr(self.model, "head", None)  # its 0-dim float buffers: a head's own scalars
                    scalars = {"loss": loss_v, "accuracy": acc_v, "lr": lr, "images_per_s": ips,
                               **{k: float(v.detach()) for k, v in out.extra_losses.items()},
                               **{f"head/{k}": float(b) for k, b in (head.named_buffers() if head is not None else ())
                                  if b.dim() == 0 and b.is_floating_point()}}
                    for key, val in scalars.items():
                        writer.add_scalar(f"train/{key}", val, self.global_step)
                    train_log.info("step %d/%d epoch %d/%d %s", self.global_step, total_steps, self.epoch + 1,
                                   self.loop.epochs, " ".join(f"{k} {v:.4g}" for k, v in scalars.items()))
                    self.experiment.broadcast_train_event(
                        "step", {"global_step": self.global_step, "loss": loss_v, "accuracy": acc_v, "lr": lr})
                stats = f" loss {loss_v:.3f} acc {acc_v:.3f}" if loss_v == loss_v else ""  # nan until first log
                bar.update(postfix=f"epoch {self.epoch + 1}/{self.loop.epochs}{stats} lr {lr:.3g}")
                if self.global_step % self.loop.log_every == 0:
                    self._check_bad_images(writer)
                if main and self.loop.validate_every and self.global_step % self.loop.validate_every == 0:
                    self._validate(writer)
                if self.loop.max_steps and self.global_step >= self.loop.max_steps:
                    stopped = not end_of_epoch or self.epoch + 1 < self.loop.epochs
                    break
                if self.global_step % self.loop.checkpoint_every == 0 and not end_of_epoch:
                    self.save()
            if self.step_in_epoch >= self.steps_per_epoch:
                self.epoch, self.step_in_epoch = self.epoch + 1, 0
                self.save(epoch_end=True)
                if main:
                    self.experiment.broadcast_train_event("epoch", {"epoch": self.epoch})
            else:
                self.save()
        bar.close()
        self._check_bad_images(writer)
        if writer:
            writer.close()
        self.writer = None
        result = TrainResult(output_dir=str(self.out), last_checkpoint=str(last), epochs_done=self.epoch,
                             global_step=self.global_step, loss=loss_v, accuracy=acc_v,
                             images_per_s=seen / max(1e-9, time.perf_counter() - t0), finished=not stopped,
                             skipped_steps=self.skipped, best=dict(self.best))
        if main:
            train_log.info("%s at step %d (%d epochs), %d steps skipped", "finished" if result.finished else
                           "stopped early", self.global_step, self.epoch, self.skipped)
            self.experiment.broadcast_train_event("end", attrs.asdict(result))
        return result
