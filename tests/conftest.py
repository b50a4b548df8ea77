"""Shared fixtures: fake plugin distributions written as real ``*.dist-info`` folders."""
from __future__ import annotations

import importlib
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


def _install_double(fake_site: FakeSite, dist: str, module: str):
    """Register the test-double module ``module`` (tests/doubles, on pytest's pythonpath) as a plugin."""
    from facex_core.testing import reset_registry

    fake_site.add_dist(dist, "1.0", {module: module})
    reset_registry()
    return importlib.import_module(module)


@pytest.fixture
def doubles(fake_site, monkeypatch):
    """The SDK test doubles (tests/doubles/fakeplug_sdk.py: detector test_square, recognizer test_colour)."""
    from facex_core.testing import reset_registry

    monkeypatch.setenv("FACEX_NO_PROGRESS", "1")
    yield _install_double(fake_site, "fakeplug-sdk", "fakeplug_sdk")
    reset_registry()


@pytest.fixture
def mask_double(fake_site, monkeypatch):
    """The mask-adder test double (tests/doubles/fakeplug_stripes.py: mask_adder ``stripes``); its module."""
    from facex_core.testing import reset_registry

    monkeypatch.setenv("FACEX_NO_PROGRESS", "1")
    yield _install_double(fake_site, "facex-mask-stripes", "fakeplug_stripes")
    reset_registry()


@pytest.fixture
def cli():
    """``cli("list", "--json")`` runs the command line in a subprocess (from the repository root)."""
    return lambda *args, **kwargs: run_cli(*args, **{"cwd": REPO, **kwargs})
