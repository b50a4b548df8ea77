"""The TrainingMode interface: what a training method adds to the core training engine.

A mode builds its model and data in :meth:`TrainingMode.run` and hands them to
:class:`facex_core.Trainer`, which owns everything that does not depend on the method:
optimiser, schedule, gradient accumulation and clipping, mixed precision and the non-finite
guard, channels_last, ``torch.compile``, DDP, checkpoints and bit-exact resume, online
validation, logging and the progress bar. The engine asks the mode through the hooks below;
their default implementations *are* conventional training (``FaceModel(backbone, head)`` called
as ``model(images, labels)`` on every image of the data set), so a mode overrides only what its
method changes. The order of calls in one optimiser step of ``k = grad_accumulation`` micro-batches:

1. at every (re)start of an epoch: :meth:`epoch_indices` → which data-set items the epoch samples;
2. :meth:`prepare_batch` on each of the k micro-batches (device, memory format);
3. :meth:`begin_step` with all k prepared micro-batches (work shared by the whole step);
4. per micro-batch, under autocast: :meth:`compute_loss` → ``HeadOutput``; the engine back-propagates
   ``total_loss / k`` (the whole step is dropped when a loss is not finite);
5. the optimiser step, then :meth:`after_optimizer_step`.

Checkpoints carry :meth:`extra_state` (restored by :meth:`load_extra_state`) next to the model's
``state_dict()``, which already holds every registered buffer and sub-network.
"""
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
    finished: bool
    """False when the run stopped early (``max_steps``) and can be resumed."""
    skipped_steps: int = 0
    """Steps dropped because the loss was not finite."""
    best: dict = attrs.field(factory=dict)
    """Best online-validation result: metric, value and step (empty without validation)."""


class TrainerView(Protocol):
    """What the training engine (:class:`facex_core.Trainer`) offers the hooks of a mode."""

    experiment: Any
    """The :class:`facex_core.Experiment` being run (config, builders, output folder)."""
    model: "nn.Module"
    """The network as the mode built it; its ``state_dict()`` is what checkpoints keep."""
    forward_model: "nn.Module"
    """What the forward pass calls: :attr:`model`, wrapped by DDP or ``torch.compile`` when asked."""
    dataset: Any
    device: "torch.device"
    loop: Any
    """The mode's :class:`facex_core.LoopConfig` (batch size, accumulation, AMP, ...)."""
    epoch: int
    """Epochs finished (0-based index of the current one)."""
    step_in_epoch: int
    """Micro-batches done in the current epoch."""
    steps_per_epoch: int
    """Micro-batches of the current epoch."""
    global_step: int
    """Optimiser steps taken."""
    world: int
    rank: int
    writer: Any
    """The tensorboardX writer of rank 0 while training (``None`` elsewhere): ``writer.add_scalar``."""

    def to_device(self, images: "torch.Tensor") -> "torch.Tensor": ...

    def autocast(self) -> contextlib.AbstractContextManager: ...


class TrainingMode(abc.ABC):
    """Drives training for one experiment; subclasses take their config and implement :meth:`run`.

    A mode gets the :class:`facex_core.Experiment` (resolved config, builders for the backbone,
    head and data, output folder) and usually delegates the loop to :class:`facex_core.Trainer`,
    passing itself as ``mode`` so that the engine calls the hooks below.
    """

    api_version: ClassVar[int] = 1
    #: Images one data-set item holds (2 for a pair of views); only scales the images/s figure.
    views_per_sample: ClassVar[int] = 1

    def __init__(self, config: Any) -> None:
        self.config = config

    @abc.abstractmethod
    def run(self, experiment: Any, resume: bool = False) -> TrainResult:
        """Train ``experiment`` (a :class:`facex_core.Experiment`); usually builds the model and data
        and returns ``facex_core.Trainer(experiment, model, data, ..., mode=self).fit(resume)``."""

    # -- engine hooks (defaults: conventional training) ---------------------------------------
    def epoch_indices(self, trainer: "TrainerView") -> Sequence[int] | None:
        """Data-set items the current epoch samples (``None`` = all of them).

        Called when an epoch starts and when a run resumes inside one (``trainer.step_in_epoch``
        > 0 then): a mode that narrows the set must return the same list both times, e.g. from
        state it keeps in :meth:`extra_state`. The engine shuffles the list with the epoch's
        seed, splits it across ranks and derives the epoch's number of steps from its length.
        """
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
        """Forward pass of micro-batch ``index`` of the step (under autocast); the engine
        back-propagates ``total_loss`` divided by the number of micro-batches."""
        images, labels = batch
        return trainer.forward_model(images, labels)

    def batch_labels(self, batch: Any) -> "torch.Tensor":
        """The labels of a prepared micro-batch (logged training accuracy)."""
        return batch[-1]

    def after_optimizer_step(self, trainer: "TrainerView") -> None:
        """Called after every optimiser step that was taken (not after a dropped one)."""

    def compile_model(self, trainer: "TrainerView") -> "nn.Module":
        """The module the forward pass calls with ``loop.compile`` (one process): parameters
        shared with ``trainer.model``, so checkpoints keep the plain keys."""
        import torch

        from ..nn.face_model import FaceModel

        model = trainer.model
        return FaceModel(torch.compile(model.backbone), model.head)

    def extra_state(self, trainer: "TrainerView") -> dict[str, Any]:
        """Mode state to checkpoint beyond the model's ``state_dict()`` (tensors and plain values)."""
        return {}

    def load_extra_state(self, trainer: "TrainerView", state: dict[str, Any] | None, source: str) -> None:
        """Restore :meth:`extra_state` from a checkpoint (``None`` when it has none); ``source``
        names the file for error messages."""
