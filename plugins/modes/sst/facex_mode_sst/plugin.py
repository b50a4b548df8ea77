"""Registration of the Semi-Siamese Training mode (light: no torch import).

Defaults are FaceX-Zoo's: the prototype settings of ``head_conf.yaml`` section ``SST_Prototype``
(queue 16384, scale 32, AM-Softmax with margin 0.35), ``--alpha 0.999``, SGD with weight decay 5e-4,
and the schedule of the shipped ``semi-siamese_training/train.sh`` (batch 512, 250 epochs,
×0.1 at epochs 150, 200 and 230).
"""
from pathlib import Path

from facex_core import Component, LoopConfig, OptimizerConfig, ScheduleConfig, config, hookimpl, option

LOSS_TYPES = ("am_softmax", "arc_softmax", "softmax")


# The nested sections are subclasses that only change defaults: a TOML table that sets one key
# (``[training.optimizer] lr = 0.05``) keeps SST's other defaults (weight decay 5e-4), not the
# conventional mode's.
@config
class SSTLoopConfig(LoopConfig):
    """Loop settings with SST's defaults (train.sh: batch 512, 250 epochs)."""

    epochs: int = option(250, doc="Number of epochs (FaceX-Zoo SST train.sh: 250).")
    batch_size: int = option(512, doc="Identities (image pairs) per optimiser step over all processes and micro-batches; must divide queue_size (train.sh: 512).")


@config
class SSTOptimizerConfig(OptimizerConfig):
    """Optimiser of the probe network (FaceX-Zoo SST: SGD 0.1, momentum 0.9, weight decay 5e-4)."""

    weight_decay: float = option(5e-4, doc="Weight decay (FaceX-Zoo SST: 5e-4 on every probe parameter).")


@config
class SSTScheduleConfig(ScheduleConfig):
    """Learning-rate schedule with SST's milestones (train.sh: 150, 200, 230)."""

    milestones: tuple[int, ...] = option((150, 200, 230), doc="multistep: epochs at which the rate is multiplied by gamma (SST train.sh: 150,200,230).")


def _positive(_inst, attribute, value) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name}: must be > 0, got {value}")


def _non_negative(_inst, attribute, value) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name}: must be >= 0, got {value}")


def _fraction(_inst, attribute, value) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name}: must be in [0, 1], got {value}")


def _loss_type(_inst, attribute, value) -> None:
    if value not in LOSS_TYPES:
        raise ValueError(f"{attribute.name}: must be one of {', '.join(LOSS_TYPES)}, got {value!r}")


@config
class SSTConfig:
    """Semi-Siamese Training: probe and momentum gallery networks and a queue of identity prototypes.

    No ``[head]`` section: the prototype queue below replaces the classification head (and its
    class-centre matrix), so a ``[head]`` in the experiment is rejected.
    """

    queue_size: int = option(16384, doc="Prototypes Q kept in the queue (SST_Prototype yaml: 16384); a multiple of loop.batch_size.",
                             validator=_positive)
    scale: float = option(32.0, doc="Logit scale s (SST_Prototype yaml: 32).", validator=_positive)
    loss_type: str = option("am_softmax", doc="Margin on the positive prototype: 'am_softmax' (cos - m), 'arc_softmax' (cos(θ + m)) or 'softmax' (none).",
                            validator=_loss_type)
    margin: float = option(0.35, doc="Margin m (SST_Prototype yaml: 0.35).", validator=_non_negative)
    alpha: float = option(0.999, doc="Gallery momentum: θ_g ← α·θ_g + (1 − α)·θ_p after every optimiser step.",
                          validator=_fraction)
    augment: bool = option(True, doc="Apply FaceX-Zoo's SST augmentation to each view (crop-resize 0.5, grayscale 0.2, rotation ±10° 0.5 where [data.augment] leaves 0); false = data.flip and [data.augment] as written.")
    loop: SSTLoopConfig = option(factory=SSTLoopConfig, doc="Epochs, batch size (pairs), logging and checkpoint cadence.")
    optimizer: SSTOptimizerConfig = option(factory=SSTOptimizerConfig, doc="SGD lr 0.1, momentum 0.9, weight decay 5e-4 (probe network only).")
    schedule: SSTScheduleConfig = option(factory=SSTScheduleConfig, doc="Multi-step decay ×0.1 at epochs 150, 200, 230.")

    def __attrs_post_init__(self) -> None:
        b = self.loop.batch_size
        if b < 1:
            raise ValueError(f"loop.batch_size: must be >= 1, got {b}")
        if self.queue_size % b:
            raise ValueError(f"queue_size = {self.queue_size} must be a multiple of loop.batch_size = {b} "
                             "(each step writes one batch of prototypes into consecutive queue slots)")


@hookimpl
def facex_components():
    return [Component(kind="training_mode", name="sst",
                      summary="Semi-Siamese Training for shallow data (~2 images/id): probe + momentum gallery net, prototype queue",
                      config=SSTConfig, factory="facex_mode_sst.mode:SSTTraining",
                      paper="H. Du et al., Semi-Siamese Training for Shallow Face Learning, ECCV 2020 (arXiv:2007.08398)")]


@hookimpl
def facex_packaged_configs():
    # the shallow-data demo: `facex-core demo sst_shallow.toml` (its data come from facex-data-synthetic)
    return {"sst_shallow.toml": str(Path(__file__).with_name("sst_shallow.toml"))}
