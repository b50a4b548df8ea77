"""The TrainingMode interface: one experiment's training loop."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import attrs

if TYPE_CHECKING:
    from ._experiment import Experiment


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


class TrainingMode:
    """Drives training for one experiment; subclasses take their config and implement :meth:`run`.

    A mode gets the :class:`facex_core.Experiment` (resolved config, builders for the backbone,
    head and data, output folder) and usually delegates the loop to :class:`facex_core.Trainer`.
    """

    api_version: ClassVar[int] = 1

    def __init__(self, config: Any) -> None:
        self.config = config

    def run(self, experiment: "Experiment", resume: bool = False) -> TrainResult:  # pragma: no cover
        raise NotImplementedError
