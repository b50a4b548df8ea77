"""Shared fixtures: fake plugin distributions written as real ``*.dist-info`` folders."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from facex_core.testing import FakeSite, run_cli

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake_site(tmp_path, monkeypatch):
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    yield FakeSite(root)
    for name in list(sys.modules):
        if name.startswith("fakeplug"):
            del sys.modules[name]


@pytest.fixture
def cli():
    """``cli("list", "--json")`` runs the command line in a subprocess (from the repository root)."""
    return lambda *args, **kwargs: run_cli(*args, **{"cwd": REPO, **kwargs})
