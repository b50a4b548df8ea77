"""Optimiser, schedule and loop settings shared by training modes (torch-free for light registration)."""
from __future__ import annotations

import math

from ..configs.options import config, option


def _increasing(name: str, values: tuple[int, ...]) -> None:
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError(f"{name} must be increasing, got {list(values)}")


@config
class OptimizerConfig:
    """Optimiser settings (FaceX-Zoo conventional training: SGD 0.1, momentum 0.9, decay 1e-4)."""

    name: str = option("sgd", doc="'sgd' (FaceX-Zoo, InsightFace) or 'adamw' (Swin/ViT recipes).",
                       choices=("sgd", "adamw"))
    lr: float = option(0.1, doc="Base learning rate.", gt=0)
    momentum: float = option(0.9, doc="SGD momentum.", ge=0, lt=1)
    weight_decay: float = option(1e-4, doc="Weight decay (FaceX-Zoo: 1e-4 on every parameter; AdamW recipes 0.05).", ge=0)
    no_decay_1d: bool = option(False, doc="Exempt biases, norm weights and other 1-D parameters from decay (Swin recipe).")
    betas: tuple[float, float] = option((0.9, 0.999), doc="AdamW betas.", ge=0, lt=1)
    eps: float = option(1e-8, doc="AdamW epsilon.", gt=0)


@config
class ScheduleConfig:
    """Learning-rate schedule: multi-step (per epoch, as FaceX-Zoo), cosine or polynomial, with warm-up."""

    name: str = option("multistep", doc="'multistep', 'cosine' or 'poly'.", choices=("multistep", "cosine", "poly"))
    milestones: tuple[int, ...] = option((10, 13, 16), doc="multistep: epochs at which the rate is multiplied by gamma "
                                                           "(train.sh: 10,13,16); increasing.", ge=1,
                                         validator=lambda _i, a, v: _increasing(a.name, v))
    gamma: float = option(0.1, doc="multistep: decay factor at each milestone.", gt=0)
    warmup_epochs: float = option(0.0, doc="Linear warm-up from ~0 to the base rate over this many epochs (may be fractional).", ge=0)
    min_lr: float = option(0.0, doc="cosine/poly: final learning rate (Swin recipe: 5e-6).", ge=0)
    power: float = option(2.0, doc="poly: exponent of (1 - progress) (InsightFace uses 2).", gt=0)

    def lr(self, base: float, epoch: float, total_epochs: float = 1.0) -> float:
        """Learning rate at fractional ``epoch`` (0-based) of ``total_epochs``."""
        if self.warmup_epochs > 0 and epoch < self.warmup_epochs:
            return base * max(epoch, 1e-8) / self.warmup_epochs
        if self.name == "multistep":
            return base * self.gamma ** sum(1 for m in self.milestones if math.floor(epoch + 1e-9) >= m)
        span = max(total_epochs - self.warmup_epochs, 1e-8)
        progress = min(1.0, max(0.0, (epoch - self.warmup_epochs) / span))
        if self.name == "cosine":
            return self.min_lr + 0.5 * (base - self.min_lr) * (1 + math.cos(math.pi * progress))
        return self.min_lr + (base - self.min_lr) * (1 - progress) ** self.power


@config
class LoopConfig:
    """Length of training, numerics and how often to log, validate and checkpoint."""

    epochs: int = option(18, doc="Number of epochs (FaceX-Zoo train.sh: 18).", ge=1)
    batch_size: int = option(512, doc="Images per optimiser step over all processes (train.sh: 512).", ge=1)
    grad_accumulation: int = option(1, doc="Split each batch into this many sequential micro-batches (same maths, less memory).",
                                    ge=1)
    clip_grad_norm: float = option(0.0, doc="Clip the global gradient norm to this value; 0 = off (InsightFace: 5).", ge=0)
    amp: str = option("none", doc="Mixed precision: 'none', 'bf16' (CPU or CUDA) or 'fp16' (CUDA, with a grad scaler).",
                      choices=("none", "bf16", "fp16"))
    max_nonfinite: int = option(10, doc="Skip steps with a non-finite loss; stop after this many in a row.", ge=1)
    channels_last: bool = option(False, doc="Run the backbone in channels_last memory format.")
    compile: bool = option(False, doc="torch.compile the backbone.")
    checkpoint_every: int = option(3000, doc="Write checkpoints/last.pt every N steps (also at every epoch end).", ge=1)
    log_every: int = option(50, doc="Log scalars every N steps.", ge=1)
    validate_every: int = option(0, doc="Evaluate the first evaluation protocol every N steps and keep best.pt; 0 = off.", ge=0)
    max_steps: int = option(0, doc="Stop (resumably) after this many steps in total; 0 = no limit.", ge=0)
