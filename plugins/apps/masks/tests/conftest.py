"""Fixtures of the facex-masks tests: the mask-adder test double as an installed plugin, and the CLI.

``doubles/`` holds test-double plugin modules (``fakeplug_stripes``: mask_adder ``stripes``); it goes on
``sys.path`` here because pytest runs with ``--import-mode=importlib``, which does not add test folders
(spawned ``data mask`` workers inherit the path).
"""
import importlib
import sys
from pathlib import Path

import pytest

from facex_core.testing import FakeSite, reset_registry, run_cli

DOUBLES = Path(__file__).resolve().parent / "doubles"
sys.path.insert(0, str(DOUBLES))
#: The shared reference photos (a checkout's ../shared/data; absent in a user's clone: tests skip).
SHARED = Path(__file__).resolve().parents[4].parent / "shared" / "data"


@pytest.fixture
def mask_double(tmp_path, monkeypatch):
    """The mask-adder test double (doubles/fakeplug_stripes.py: mask_adder ``stripes``), installed as
    distribution ``facex-mask-stripes``; the fixture's value is its module."""
    monkeypatch.setenv("FACEX_NO_PROGRESS", "1")
    site = FakeSite(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site.root))
    site.add_dist("facex-mask-stripes", "1.0", {"fakeplug_stripes": "fakeplug_stripes"})
    reset_registry()
    yield importlib.import_module("fakeplug_stripes")
    reset_registry()


@pytest.fixture
def cli(tmp_path):
    """``cli("mask", "--help")`` runs ``facex-core`` in a fresh interpreter, as users do."""
    return lambda *args, **kwargs: run_cli(*args, **{"cwd": tmp_path, **kwargs})


@pytest.fixture
def shared_data():
    """The shared reference data folder; the test is skipped where it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} (the shared reference photos) not available")
    return SHARED
