"""``facex-core new-plugin``: write a skeleton plugin distribution that installs, lists and tests green."""
from __future__ import annotations

import re
from pathlib import Path

from ..version import __version__

_KIND_WORD = {"backbone": "backbone", "head": "head", "protocol": "protocol", "training_mode": "mode"}

_PYPROJECT = '''[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "{title} {kind} for FaceX"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["facex-core>={major_minor},<{next_minor}", "torch>=2.4"]

[project.entry-points."facex.plugins"]
{name} = "{pkg}.plugin"

[tool.setuptools.packages.find]
include = ["{pkg}*"]
'''

_README = '''# {dist}

A FaceX {kind} plugin providing `{name}`.

    pip install -e .
    facex-core list --kind {kind}
    facex-core describe {kind} {name}
    python -m pytest tests

Edit `{pkg}/plugin.py` (config fields and registration; keep it free of heavy imports) and
`{pkg}/{module}.py` (the implementation). Publish as a normal wheel: `python -m build` and upload;
users `pip install {dist}` and FaceX finds it through the `facex.plugins` entry point.
'''

_PLUGIN = {
    "backbone": '''"""Registration of the {name} backbone (light: no torch import here)."""
from facex_core import Component, config, hookimpl, option


@config
class {cls}Config:
    """Hyper-parameters of {cls}."""

    embedding_size: int = option(512, doc="Embedding size D.")
    width: int = option(32, doc="Channels of the first convolution.")


@hookimpl
def facex_components():
    return [Component(kind="backbone", name="{name}", summary="{title}: a small convolutional backbone",
                      config={cls}Config, factory="{pkg}.{module}:{cls}")]
''',
    "head": '''"""Registration of the {name} head (light: no torch import here)."""
from facex_core import Component, HeadConfig, config, hookimpl, option


@config
class {cls}Config(HeadConfig):
    """Hyper-parameters of {cls}."""

    scale: float = option(30.0, doc="Logit scale s.")


@hookimpl
def facex_components():
    return [Component(kind="head", name="{name}", summary="{title}: normalised softmax (cosine logits × s)",
                      config={cls}Config, factory="{pkg}.{module}:{cls}")]
''',
    "protocol": '''"""Registration of the {name} protocol (light: no heavy imports here)."""
from facex_core import Component, config, hookimpl, option


@config
class {cls}Config:
    """Inputs of {cls}."""

    pairs_file: str = option(doc="Text file, one 'path1 path2 same(0/1)' line per pair.")
    image_root: str = option(doc="Folder the image paths are relative to.")


@hookimpl
def facex_components():
    return [Component(kind="protocol", name="{name}", summary="{title}: pair verification accuracy",
                      config={cls}Config, factory="{pkg}.{module}:{cls}")]
''',
    "training_mode": '''"""Registration of the {name} training mode (light: no torch import here)."""
from facex_core import Component, LoopConfig, OptimizerConfig, ScheduleConfig, config, hookimpl, option


@config
class {cls}Config:
    """Settings of {cls}."""

    loop: LoopConfig = option(factory=LoopConfig, doc="Epochs, batch size, checkpoints.")
    optimizer: OptimizerConfig = option(factory=OptimizerConfig, doc="Optimiser.")
    schedule: ScheduleConfig = option(factory=ScheduleConfig, doc="Learning-rate schedule.")


@hookimpl
def facex_components():
    return [Component(kind="training_mode", name="{name}", summary="{title}: a custom training loop",
                      config={cls}Config, factory="{pkg}.{module}:{cls}")]
''',
}

_IMPL = {
    "backbone": '''"""{cls}: conv stem, two strided stages, global pooling, linear embedding."""
from torch import nn

from facex_core import Backbone


class {cls}(Backbone):
    def __init__(self, config):
        super().__init__(config)
        w = config.width
        self.embedding_size = config.embedding_size
        self.features = nn.Sequential(
            nn.Conv2d(3, w, 3, 2, 1, bias=False), nn.BatchNorm2d(w), nn.PReLU(w),
            nn.Conv2d(w, 2 * w, 3, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.PReLU(2 * w),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.embed = nn.Sequential(nn.Linear(2 * w, config.embedding_size, bias=False),
                                   nn.BatchNorm1d(config.embedding_size))

    def forward(self, images):
        return self.embed(self.features(images))
''',
    "head": '''"""{cls}: cosine logits scaled by s, no margin."""
from facex_core import MarginSoftmaxHead


class {cls}(MarginSoftmaxHead):
    def margin_logits(self, batch):
        # batch.cos: N×C cosines; batch.target: each row's class column (see facex_core.CosineBatch)
        return batch.cos * self.config.scale
''',
    "protocol": '''"""{cls}: accuracy of the best threshold on a list of labelled pairs."""
from pathlib import Path

import numpy as np

from facex_core import Curve, Protocol, ProtocolResult, roc_curve


class {cls}(Protocol):
    def __init__(self, config):
        super().__init__(config)
        self.pairs = []
        for line in Path(config.pairs_file).read_text().splitlines():
            if line.strip():
                a, b, same = line.split()
                self.pairs.append((a, b, int(same)))

    @property
    def image_root(self):
        return Path(self.config.image_root)

    def images(self):
        return sorted({{p for a, b, _ in self.pairs for p in (a, b)}})

    def evaluate(self, features):
        scores = np.array([float(features[a] @ features[b]) for a, b, _ in self.pairs])
        labels = np.array([s for _, _, s in self.pairs], dtype=bool)
        fpr, tpr, _ = roc_curve(scores, labels)
        best = max(np.mean((scores > t) == labels) for t in np.concatenate([[-np.inf], scores]))
        return ProtocolResult(metrics={{"accuracy": float(best)}}, primary="accuracy",
                              curves=[Curve("roc", fpr, tpr, "FAR", "TAR", log_x=True)])
''',
    "training_mode": '''"""{cls}: builds backbone and head and runs the core training engine."""
from facex_core import FaceModel, Trainer, TrainingMode


class {cls}(TrainingMode):
    def run(self, experiment, resume=False):
        experiment.seed_everything()
        backbone = experiment.build_backbone()
        head = experiment.build_head()
        dataset = experiment.train_dataset(backbone.input_size)
        # mode=self: the engine calls this mode's hooks (epoch_indices, compute_loss, after_optimizer_step,
        # extra_state, ...); override those to change the method, keep the engine for the rest
        trainer = Trainer(experiment, FaceModel(backbone, head), dataset, self.config.optimizer,
                          self.config.schedule, self.config.loop, mode=self)
        return trainer.fit(resume=resume)
''',
}

_TEST = {
    "backbone": '''import facex_core
from facex_core.testing import check_backbone


def test_{name}_is_listed_and_meets_the_backbone_contract():
    assert "{name}" in facex_core.testing.installed("backbone")
    check_backbone(facex_core.build("backbone", "{dist}:{name}", embedding_size=64))
''',
    "head": '''import facex_core
from facex_core.testing import check_head


def test_{name}_is_listed_and_meets_the_head_contract():
    assert "{name}" in facex_core.testing.installed("head")
    check_head(facex_core.build("head", "{dist}:{name}", num_classes=10, embedding_size=16))
''',
    "protocol": '''import cv2
import numpy as np

import facex_core
from facex_core.testing import check_protocol


def test_{name}_is_listed_and_meets_the_protocol_contract(tmp_path):
    assert "{name}" in facex_core.testing.installed("protocol")
    for i in range(4):
        cv2.imwrite(str(tmp_path / f"{{i}}.png"), np.full((112, 112, 3), 40 * i, np.uint8))
    (tmp_path / "pairs.txt").write_text("0.png 1.png 1\\n2.png 3.png 0\\n0.png 3.png 0\\n")
    check_protocol(facex_core.build("protocol", "{dist}:{name}", pairs_file=str(tmp_path / "pairs.txt"),
                                    image_root=str(tmp_path)))
''',
    "training_mode": '''import facex_core


def test_{name}_is_listed_and_builds():
    assert "{name}" in facex_core.testing.installed("training_mode")
    mode = facex_core.build("training_mode", "{dist}:{name}")
    assert isinstance(mode, facex_core.TrainingMode)
''',
}


def write_plugin(kind: str, name: str, directory: Path) -> list[Path]:
    """Write a plugin distribution for component ``name`` of ``kind`` into ``directory``."""
    if kind not in _KIND_WORD:
        raise ValueError(f"kind must be one of {', '.join(_KIND_WORD)}")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"plugin name {name!r}: use lower-case letters, digits and '_'")
    if directory.exists() and any(directory.iterdir()):
        raise FileExistsError(f"{directory} exists and is not empty")
    word = _KIND_WORD[kind]
    major, minor = (int(x) for x in __version__.split(".")[:2])
    ctx = {"kind": kind, "name": name, "dist": f"facex-{word}-{name.replace('_', '-')}",
           "pkg": f"facex_{word}_{name}", "module": name,
           "cls": "".join(part.capitalize() for part in name.split("_")),
           "title": name.replace("_", " ").title(),
           "major_minor": f"{major}.{minor}", "next_minor": f"{major}.{minor + 1}"}
    files = {
        directory / "pyproject.toml": _PYPROJECT,
        directory / "README.md": _README,
        directory / ctx["pkg"] / "__init__.py": '"""{title}: a FaceX {kind} plugin."""\n',
        directory / ctx["pkg"] / "plugin.py": _PLUGIN[kind],
        directory / ctx["pkg"] / f"{name}.py": _IMPL[kind],
        directory / "tests" / f"test_{name}.py": _TEST[kind],
    }
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**ctx))
    return list(files)
