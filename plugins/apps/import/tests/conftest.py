"""Fixtures of the facex-import tests. ``sources/`` holds the re-created source networks (FaceX-Zoo's and
InsightFace's, written for these tests) and their saving/preprocessing code; it goes on ``sys.path``
here because pytest runs with ``--import-mode=importlib``."""
import sys
from pathlib import Path

import pytest

from facex_core.testing import run_cli

SOURCES = Path(__file__).resolve().parent / "sources"
sys.path.insert(0, str(SOURCES))


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("FACEX_NO_PROGRESS", "1")


@pytest.fixture(autouse=True)
def _threads():
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def cli(tmp_path):
    """``cli("import", "facexzoo", ...)`` runs ``facex-core`` in a fresh interpreter, as users do."""
    return lambda *args, **kwargs: run_cli(*args, **{"cwd": tmp_path, **kwargs})
