"""Core test doubles, installed as distribution ``facex-doubles`` for the core's tests (tests/conftest.py).

The core's tests run with only facex-core and these doubles: a small convolutional backbone
``tiny``, a cosine-margin head ``margin`` (CosFace-style: ``s·(cos − m)`` on the target), the
``plain`` training mode (the engine's default hooks are conventional training), a pairs protocol
``pairs`` (``a b same`` lines, best-threshold accuracy and a ROC curve) and a ``dataset`` maker
``squares`` that writes a tiny identity folder plus its train list and pairs file; the ``data_format``
``stack`` lives in fakeplug_stack.py (a top-level class, so loader workers can unpickle it).
"""
from __future__ import annotations

from facex_core import (Component, HeadConfig, LoopConfig, OptimizerConfig, ScheduleConfig, config, hookimpl,
                        option)


@config
class TinyConfig:
    """A few convolutions and a linear embedding."""

    embedding_size: int = option(16, doc="Embedding size D.", ge=1)
    input_size: tuple[int, int] = option((32, 32), doc="Input (H, W).", ge=8)
    width: int = option(8, doc="Channels of the first convolution.", ge=1)


@config
class MarginConfig(HeadConfig):
    """CosFace-style additive cosine margin."""

    scale: float = option(16.0, doc="Logit scale s.", gt=0)
    margin: float = option(0.2, doc="Cosine margin m.", ge=0, lt=1)


@config
class PlainConfig:
    """Conventional training on the core engine."""

    loop: LoopConfig = option(factory=LoopConfig, doc="Epochs, batch size, checkpoints.")
    optimizer: OptimizerConfig = option(factory=OptimizerConfig, doc="Optimiser.")
    schedule: ScheduleConfig = option(factory=ScheduleConfig, doc="Learning-rate schedule.")


@config
class PairsConfig:
    """A pairs list under an image root."""

    pairs_file: str = option(doc="Text file, one 'image_a image_b same(0/1)' line per pair.")
    image_root: str = option(doc="Folder the image paths are relative to.")


@config
class SquaresConfig:
    """Where and how much toy data to draw."""

    output: str = option(doc="Folder to write into (images/, train_list.txt, pairs.txt).")
    identities: int = option(4, doc="Identities (one colour each).", ge=2)
    images_per_identity: int = option(3, doc="Images per identity.", ge=2)


@config
class StackConfig:
    """Test double: a data set stored as two arrays."""


def _tiny(cfg):
    import torch
    from torch import nn

    import facex_core

    class Tiny(facex_core.Backbone):
        def __init__(self, config):
            super().__init__(config)
            w = config.width
            self.features = nn.Sequential(nn.Conv2d(3, w, 3, 2, 1, bias=False), nn.BatchNorm2d(w), nn.PReLU(w),
                                          nn.Conv2d(w, 2 * w, 3, 2, 1, bias=False), nn.BatchNorm2d(2 * w),
                                          nn.PReLU(2 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.embed = nn.Linear(2 * w, config.embedding_size)

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            self.check_input(images)
            return self.embed(self.features(images))

        def stages(self):
            return {"stage1": self.features[2], "stage2": self.features[5]}

    return Tiny(cfg)


def _margin(cfg):
    import facex_core

    class Margin(facex_core.MarginSoftmaxHead):
        def margin_logits(self, batch):
            value = batch.cos.gather(1, batch.target.clamp_min(0)[:, None]).squeeze(1) - self.config.margin
            logits = facex_core.replace_target(batch.cos, batch.target, value)
            return logits * self.config.scale

    return Margin(cfg)


def _plain(cfg):
    import facex_core

    class Plain(facex_core.TrainingMode):
        def run(self, experiment, resume=False):
            experiment.seed_everything()
            backbone, head = experiment.build_backbone(), experiment.build_head()
            data = experiment.train_dataset(backbone.input_size)
            return facex_core.Trainer(experiment, facex_core.FaceModel(backbone, head), data, cfg.optimizer,
                                      cfg.schedule, cfg.loop, mode=self).fit(resume=resume)

    return Plain(cfg)


def _pairs(cfg):
    from functools import cached_property
    from pathlib import Path

    import numpy as np

    import facex_core

    class Pairs(facex_core.Protocol):
        @cached_property
        def pairs(self):  # read on first use: building the protocol (e.g. to check a config) needs no file
            rows = [line.split() for line in Path(self.config.pairs_file).read_text().splitlines() if line.strip()]
            return [(a, b, int(same)) for a, b, same in rows]

        @property
        def image_root(self):
            return Path(self.config.image_root)

        def images(self):
            return sorted({p for a, b, _ in self.pairs for p in (a, b)})

        def evaluate(self, features):
            scores = np.array([float(features[a] @ features[b]) for a, b, _ in self.pairs])
            labels = np.array([s for _, _, s in self.pairs])
            best = max(np.mean((scores > t) == labels) for t in np.concatenate([[-2.0], scores]))
            fpr, tpr, _ = facex_core.roc_curve(scores, labels)
            return facex_core.ProtocolResult(metrics={"accuracy": float(best)}, primary="accuracy",
                                             curves=[facex_core.Curve("roc", fpr, tpr, "FAR", "TAR", log_x=True)])

    return Pairs(cfg)


def _squares(cfg):
    from pathlib import Path

    import cv2
    import numpy as np

    import facex_core

    class Squares(facex_core.DatasetMaker):
        def describe(self):
            return f"toy squares -> {self.config.output}"

        def prepare(self, workers=0):
            out = Path(self.config.output)
            if (out / "pairs.txt").is_file():
                return {"out": str(out), "made": False}
            rng = np.random.default_rng(0)
            lines, names = [], []
            for ident in range(self.config.identities):
                colour = rng.integers(0, 255, 3)
                for k in range(self.config.images_per_identity):
                    img = np.full((32, 32, 3), colour, np.uint8)
                    img[8 + k:20 + k, 8:20] = 255 - colour
                    rel = f"id{ident}/{k}.png"
                    (out / "images" / f"id{ident}").mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(out / "images" / rel), img)
                    lines.append(f"{rel} {ident}")
                    names.append((ident, rel))
            facex_core.write_atomic(out / "train_list.txt", "\n".join(lines) + "\n")
            pairs = [f"{a} {b} {int(ia == ib)}" for (ia, a), (ib, b) in zip(names, names[1:] + names[:1])]
            facex_core.write_atomic(out / "pairs.txt", "\n".join(pairs) + "\n")
            return {"out": str(out), "made": True}

    return Squares(cfg)


@hookimpl
def facex_components():
    here = __name__
    return [
        Component(kind="backbone", name="tiny", summary="test double: tiny CNN", config=TinyConfig,
                  factory=f"{here}:_tiny"),
        Component(kind="head", name="margin", summary="test double: additive cosine margin", config=MarginConfig,
                  factory=f"{here}:_margin"),
        Component(kind="training_mode", name="plain", summary="test double: conventional training",
                  config=PlainConfig, factory=f"{here}:_plain"),
        Component(kind="protocol", name="pairs", summary="test double: pair accuracy", config=PairsConfig,
                  factory=f"{here}:_pairs"),
        Component(kind="dataset", name="squares", summary="test double: toy identity folder", config=SquaresConfig,
                  factory=f"{here}:_squares"),
        Component(kind="data_format", name="stack", summary="test double: images.npy + labels.npy",
                  config=StackConfig, factory="fakeplug_stack:StackFormat"),
    ]
