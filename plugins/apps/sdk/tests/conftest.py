"""Fixtures of the facex-sdk tests: the SDK test doubles as an installed plugin, and the command line.

``doubles/`` holds test-double plugin modules with plugin-specific names (``fakeplug_sdk``); it goes
on ``sys.path`` here because pytest runs with ``--import-mode=importlib``, which does not add test
folders (spawned ``data align`` workers inherit the path).
"""
import importlib
import sys
from pathlib import Path

import pytest

from facex_core.testing import FakeSite, reset_registry, run_cli

DOUBLES = Path(__file__).resolve().parent / "doubles"
sys.path.insert(0, str(DOUBLES))


@pytest.fixture
def doubles(tmp_path, monkeypatch):
    """The SDK test doubles (doubles/fakeplug_sdk.py: detector test_square, recognizer test_colour),
    installed as distribution ``fakeplug-sdk``; the fixture's value is their module."""
    monkeypatch.setenv("FACEX_NO_PROGRESS", "1")
    site = FakeSite(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site.root))
    site.add_dist("fakeplug-sdk", "1.0", {"fakeplug_sdk": "fakeplug_sdk"})
    reset_registry()
    yield importlib.import_module("fakeplug_sdk")
    reset_registry()


@pytest.fixture
def cli(tmp_path):
    """``cli("sdk", "--help")`` runs ``facex-core`` in a fresh interpreter, as users do."""
    return lambda *args, **kwargs: run_cli(*args, **{"cwd": tmp_path, **kwargs})


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory):
    """A FaceX checkpoint of an untrained tiny MobileFaceNet (enough to run the ``facex`` recognizer)."""
    import torch

    import facex_core

    config = {"experiment": {"name": "tiny"}, "backbone": {"name": "mobilefacenet", "embedding_size": 16}}
    exp = facex_core.Experiment(config)
    torch.manual_seed(0)
    backbone = exp.build_backbone().eval()
    path = tmp_path_factory.mktemp("ckpt") / "last.pt"
    facex_core.save_backbone_checkpoint(path, exp.resolved(), backbone)
    return path
