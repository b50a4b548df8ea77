"""Registration of the conventional training mode (light: no torch import)."""
from facex_core import Component, LoopConfig, OptimizerConfig, ScheduleConfig, config, hookimpl, option


@config
class ConventionalConfig:
    """FaceX-Zoo's conventional training: defaults from its shipped train.sh (18 epochs, 10/13/16)."""

    loop: LoopConfig = option(factory=LoopConfig, doc="Epochs, batch size, logging and checkpoint cadence.")
    optimizer: OptimizerConfig = option(factory=OptimizerConfig, doc="SGD lr 0.1, momentum 0.9, weight decay 1e-4.")
    schedule: ScheduleConfig = option(factory=ScheduleConfig, doc="Multi-step decay ×0.1 at epochs 10, 13, 16.")


@hookimpl
def facex_components():
    return [Component(kind="training_mode", name="conventional",
                      summary="Backbone + margin head with cross-entropy, SGD and multi-step LR",
                      config=ConventionalConfig, factory="facex_mode_conventional.mode:ConventionalTraining",
                      paper="Wang et al., FaceX-Zoo: A PyTorch Toolbox for Face Recognition, ACM MM 2021 (§3.1)")]
