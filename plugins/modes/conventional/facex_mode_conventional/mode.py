"""Conventional training: ``loss = CE(head(backbone(x)), y) + extra head terms``, one network."""
from __future__ import annotations

from facex_core import Experiment, FaceModel, Trainer, TrainingMode, TrainResult

from .plugin import ConventionalConfig


class ConventionalTraining(TrainingMode):
    """Builds the experiment's backbone and head and runs the core training engine.

    Every engine hook keeps the :class:`TrainingMode` default: those defaults are conventional training.
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
        dataset = experiment.train_dataset(backbone.input_size)
        trainer = Trainer(experiment, FaceModel(backbone, head), dataset, self.config.optimizer,
                          self.config.schedule, self.config.loop, mode=self)
        return trainer.fit(resume=resume)
