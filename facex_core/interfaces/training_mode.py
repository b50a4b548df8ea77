"""The TrainingMode interface: what a training method adds to the core training engine.

Order of calls in one optimiser step of ``k = grad_accumulation`` micro-batches:

1. at every (re)start of an epoch: :meth:`epoch_indices` → which data-set items the epoch samples;
2. :meth:`prepare_batch` on each of the k micro-batches (device, memory format);
3. :meth:`begin_step` with all k prepared micro-batches (work shared by the whole step);
4. per micro-batch, under autocast: :meth:`compute_loss` → ``HeadOutput``; the engine back-propagates
   ``total_loss / k`` (the whole step is dropped when a loss is not finite);
5. the optimiser step, then :meth:`after_optimizer_step`."""
from __future__ import annotations

import abc
import contextlib
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Sequence

import attrs

if TYPE_CHECKING:
    import torch
    from torch import nn

    from .head import HeadOutput


@attrs.define
class TrainResult:
    """Summary of a finished (or stopped) training run."""

    output_dir: str
    last_checkpoint: str
    epochs_done: int
    global_step: int
    loss: float
    accuracy: float
    images_per_s: float
    finished: bool  #: False when the run stopped early (``max_steps``) and can be resumed.
    skipped_steps: int = 0  #: Steps dropped because the loss was not finite.
    best: dict = attrs.field(factory=dict)  #: Best online-validation metric, value and step (or empty).


class TrainerView(Protocol):
    """What the training engine (:class:`facex_core.Trainer`) offers the hooks of a mode."""

    experiment: Any  #: The :class:`facex_core.Experiment` being run.
    model: "nn.Module"  #: The network as the mode built it; its ``state_dict()`` is what checkpoints keep.
    forward_model: "nn.Module"  #: :attr:`model`, wrapped by DDP or ``torch.compile`` when asked.
    optimizer: "torch.optim.Optimizer"  #: Its param groups carry the mode's ``lr_scale`` factors.
    dataset: Any
    device: "torch.device"
    loop: Any  #: The mode's :class:`facex_core.LoopConfig`.
    epoch: int  #: Epochs finished (0-based index of the current one).
    step_in_epoch: int  #: Micro-batches done in the current epoch.
    steps_per_epoch: int  #: Micro-batches of the current epoch.
    global_step: int  #: Optimiser steps taken.
    world: int
    rank: int
    writer: Any  #: The tensorboardX writer of rank 0 while training (``None`` elsewhere).

    def to_device(self, images: "torch.Tensor") -> "torch.Tensor": ...

    def autocast(self) -> contextlib.AbstractContextManager: ...


class TrainingMode(abc.ABC):
    """Drives training for one experiment; subclasses take their config and implement :meth:`run`."""

    api_version: ClassVar[int] = 1
    #: Images one data-set item holds (2 for a pair of views); only scales the images/s figure.
    views_per_sample: ClassVar[int] = 1

    def __init__(self, config: Any) -> None:
        self.config = config

    @abc.abstractmethod
    def run(self, experiment: Any, resume: bool = False) -> TrainResult:
        """Train ``experiment``; usually ``facex_core.Trainer(experiment, model, data, ..., mode=self).fit(resume)``."""

    # -- engine hooks (defaults: conventional training) ---------------------------------------
    def epoch_indices(self, trainer: "TrainerView") -> Sequence[int] | None:
        """Data-set items the current epoch samples (``None`` = all), before shuffling; called again when
        a run resumes inside the epoch, it must return the same list (keep its state in :meth:`extra_state`)."""
        return None

    def planned_steps(self, trainer: "TrainerView") -> int:
        """Optimiser steps the whole run is expected to take (the progress bar's total and ETA)."""
        return trainer.loop.epochs * (trainer.steps_per_epoch // trainer.loop.grad_accumulation)

    def prepare_batch(self, trainer: "TrainerView", batch: Any) -> Any:
        """Move one collated micro-batch to the device, images in the engine's memory format."""
        images, labels = batch
        return trainer.to_device(images), labels.to(trainer.device, non_blocking=True)

    def begin_step(self, trainer: "TrainerView", batches: list[Any]) -> None:
        """Work shared by the k micro-batches of one optimiser step, before their losses."""

    def compute_loss(self, trainer: "TrainerView", batch: Any, index: int) -> "HeadOutput":
        """Forward pass of micro-batch ``index`` of the step (under autocast)."""
        images, labels = batch
        return trainer.forward_model(images, labels)

    def batch_labels(self, batch: Any) -> "torch.Tensor":
        """The labels of a prepared micro-batch (logged training accuracy)."""
        return batch[-1]

    def after_optimizer_step(self, trainer: "TrainerView") -> None:
        """Called after every optimiser step that was taken (not after a dropped one)."""

    def parameter_groups(self, trainer: "TrainerView") -> list[dict[str, Any]] | None:
        """Optimiser groups of ``trainer.model``'s parameters, each ``{"params": [...], "lr_scale": s}`` (rate times
        ``s``, read every step: a hook may set 0 to freeze a backbone a while); ``None``: one group of all."""
        return None

    def compile_model(self, trainer: "TrainerView") -> "nn.Module":
        """What the forward pass calls with ``loop.compile``, sharing ``trainer.model``'s parameters (plain keys)."""
        import torch

        from .head import FaceModel

        return FaceModel(torch.compile(trainer.model.backbone), trainer.model.head)

    def extra_state(self, trainer: "TrainerView") -> dict[str, Any]:
        """Mode state to checkpoint beyond the model's ``state_dict()`` (tensors and plain values)."""
        return {}

    def load_extra_state(self, trainer: "TrainerView", state: dict[str, Any] | None, source: str) -> None:
        """Restore :meth:`extra_state` (``None`` when the checkpoint has none; ``source`` names the file)."""
