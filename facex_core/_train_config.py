"""Optimiser, schedule and loop settings shared by training modes (torch-free for light registration)."""
from __future__ import annotations

import attrs

from ._options import config, option


@config
class OptimizerConfig:
    """Optimiser settings (FaceX-Zoo conventional training: SGD 0.1, momentum 0.9, decay 1e-4)."""

    name: str = option("sgd", doc="Optimiser: 'sgd'.", validator=attrs.validators.in_(("sgd",)))
    lr: float = option(0.1, doc="Base learning rate.")
    momentum: float = option(0.9, doc="SGD momentum.")
    weight_decay: float = option(1e-4, doc="L2 weight decay (applied to all parameters, as FaceX-Zoo).")


@config
class ScheduleConfig:
    """Learning-rate schedule, stepped per epoch like FaceX-Zoo's MultiStepLR."""

    name: str = option("multistep", doc="Schedule: 'multistep'.", validator=attrs.validators.in_(("multistep",)))
    milestones: tuple[int, ...] = option((10, 13, 16), doc="Epochs at which the rate is multiplied by gamma (train.sh: 10,13,16).")
    gamma: float = option(0.1, doc="Decay factor at each milestone.")

    def lr(self, base: float, epoch: int) -> float:
        """Learning rate during ``epoch`` (0-based)."""
        return base * self.gamma ** sum(1 for m in self.milestones if epoch >= m)


@config
class LoopConfig:
    """Length of training and how often to log and checkpoint."""

    epochs: int = option(18, doc="Number of epochs (FaceX-Zoo train.sh: 18).")
    batch_size: int = option(512, doc="Images per step (train.sh: 512).")
    checkpoint_every: int = option(3000, doc="Write checkpoints/last.pt every N steps (also at every epoch end).")
    log_every: int = option(50, doc="Log scalars every N steps.")
    max_steps: int = option(0, doc="Stop (resumably) after this many steps in total; 0 = no limit.")
