"""Conventional training: ``loss = CE(head(backbone(x)), y) + extra head terms``, one network."""
from __future__ import annotations

import sys
from typing import Any

from facex_core import Experiment, FaceModel, Trainer, TrainerView, TrainingMode, TrainResult, world_rank

from .plugin import ConventionalConfig


class ConventionalTraining(TrainingMode):
    """Builds the experiment's backbone and head and runs the core training engine.

    Every engine hook keeps the :class:`TrainingMode` default (those defaults are conventional
    training) except for fine-tuning: ``init`` loads another checkpoint's weights before the first
    step, and ``freeze_backbone_steps`` / ``backbone_lr_mult`` give the backbone its own learning-rate
    scale, a function of the optimiser step only (so ``--resume`` continues bit for bit).
    """

    def __init__(self, config: ConventionalConfig) -> None:
        super().__init__(config)

    def run(self, experiment: Experiment, resume: bool = False) -> TrainResult:
        experiment.seed_everything()
        backbone = experiment.build_backbone()
        head = experiment.build_head()
        if head.embedding_size != backbone.embedding_size:
            raise ValueError(f"head.embedding_size = {head.embedding_size} but the backbone gives "
                             f"{backbone.embedding_size}-d embeddings")
        if self.config.init and not resume:  # a resumed run's weights come from its own checkpoint
            from .finetune import load_init

            for line in load_init(self.config.init, self.config.init_ignore, experiment, backbone, head):
                if world_rank()[1] == 0:
                    print(line, file=sys.stderr)
        dataset = experiment.train_dataset(backbone.input_size)
        trainer = Trainer(experiment, FaceModel(backbone, head), dataset, self.config.optimizer,
                          self.config.schedule, self.config.loop, mode=self)
        return trainer.fit(resume=resume)

    def backbone_scale(self, step: int) -> float:
        """The backbone's learning-rate scale for the step after ``step`` optimiser steps."""
        return 0.0 if step < self.config.freeze_backbone_steps else self.config.backbone_lr_mult

    def parameter_groups(self, trainer: TrainerView) -> list[dict[str, Any]] | None:
        if not self.config.freeze_backbone_steps and self.config.backbone_lr_mult == 1.0:
            return None  # one group of all parameters, as without fine-tuning settings
        step = getattr(trainer, "global_step", 0)  # the Trainer asks while it is built: step 0
        return [{"params": list(trainer.model.backbone.parameters()), "lr_scale": self.backbone_scale(step),
                 "part": "backbone"},
                {"params": list(trainer.model.head.parameters()), "lr_scale": 1.0, "part": "head"}]

    def after_optimizer_step(self, trainer: TrainerView) -> None:
        scale = self.backbone_scale(trainer.global_step)
        for group in trainer.optimizer.param_groups:
            if group.get("part") == "backbone":
                group["lr_scale"] = scale
