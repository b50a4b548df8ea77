"""Registration of the conventional training mode (light: no torch import)."""
from facex_core import Component, LoopConfig, OptimizerConfig, ScheduleConfig, config, hookimpl, option


@config
class ConventionalConfig:
    """FaceX-Zoo's conventional training: defaults from its shipped train.sh (18 epochs, 10/13/16)."""

    loop: LoopConfig = option(factory=LoopConfig, doc="Epochs, batch size, logging and checkpoint cadence.")
    optimizer: OptimizerConfig = option(factory=OptimizerConfig, doc="SGD lr 0.1, momentum 0.9, weight decay 1e-4.")
    schedule: ScheduleConfig = option(factory=ScheduleConfig, doc="Multi-step decay ×0.1 at epochs 10, 13, 16.")
    init: str = option("", doc="Fine-tune: start from this FaceX checkpoint (trained or imported); its backbone "
                               "weights load strictly, its class centres when the classes match. '' = from scratch.")
    init_ignore: tuple[str, ...] = option((), doc="Fine-tune: weights of the init checkpoint to leave out and train "
                                                  "afresh, as key prefixes or globs ('backbone.linear', 'head').")
    freeze_backbone_steps: int = option(0, doc="Train only the head for the first N optimiser steps (the backbone's "
                                               "learning rate is 0; BatchNorm statistics still adapt).", ge=0)
    backbone_lr_mult: float = option(1.0, doc="The backbone's learning rate as a multiple of the schedule's "
                                              "(e.g. 0.1 to fine-tune gently; the head keeps 1).", ge=0)

    def __attrs_post_init__(self) -> None:
        if self.init_ignore and not self.init:
            raise ValueError("init_ignore lists weights to leave out of training.init, which is not set")


@hookimpl
def facex_components():
    return [Component(kind="training_mode", name="conventional",
                      summary="Backbone + margin head with cross-entropy, SGD and multi-step LR",
                      config=ConventionalConfig, factory="facex_mode_conventional.mode:ConventionalTraining",
                      paper="Wang et al., FaceX-Zoo: A PyTorch Toolbox for Face Recognition, ACM MM 2021 (§3.1)")]
