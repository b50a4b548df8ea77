"""Shared fixtures of the core's tests.

Every test under ``tests/`` runs in a hermetic world (:func:`facex_world`, autouse): the only FaceX
plugin distribution is ``facex-doubles`` (``tests/doubles/fakeplug_core.py``, written as a real
``*.dist-info`` with :class:`facex_core.testing.FakeSite`); every other installed distribution of the
``facex.plugins`` group is switched off with ``FACEX_DISABLE_PLUGINS``. The environment carries that
world into subprocesses (the ``cli`` fixture, ``run_cli``, spawned DDP ranks), so the core's tests
pass with nothing but facex-core installed. ``tests/installed/`` overrides the fixture: it checks the
plugins that really are installed.
"""
from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import Path

import pytest

from facex_core.testing import FakeSite, reset_registry, run_cli

REPO = Path(__file__).resolve().parents[1]
DOUBLES = REPO / "tests" / "doubles"
#: The distribution the core's test doubles are installed as.
DOUBLES_DIST = "facex-doubles"
DOUBLES_MODULE = "fakeplug_core"


@pytest.fixture(scope="session")
def doubles_site(tmp_path_factory):
    """A site folder holding only the ``facex-doubles`` distribution (entry point ``core``)."""
    site = FakeSite(tmp_path_factory.mktemp("doubles-site"))
    site.add_dist(DOUBLES_DIST, "0.1.0", {"core": DOUBLES_MODULE}, requires=["facex-core>=0.1,<0.2"])
    return site


@pytest.fixture(scope="session")
def other_distributions():
    """Every installed ``facex.plugins`` distribution except the doubles (switched off in the core's tests)."""
    return sorted({ep.dist.metadata["Name"] for ep in metadata.entry_points(group="facex.plugins")
                   if ep.dist is not None} - {DOUBLES_DIST})


@pytest.fixture(autouse=True)
def _no_progress_bars(monkeypatch):
    """Tests read stderr line by line: progress bars (on whenever FACEX_NO_PROGRESS is unset) stay off."""
    monkeypatch.setenv("FACEX_NO_PROGRESS", "1")


@pytest.fixture(autouse=True)
def facex_world(doubles_site, other_distributions, monkeypatch):
    """Only facex-core and the doubles, in this process and in every subprocess a test starts."""
    monkeypatch.syspath_prepend(str(doubles_site.root))
    monkeypatch.setenv("FACEX_DISABLE_PLUGINS", ",".join(other_distributions))
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(doubles_site.root), str(DOUBLES), *inherited]))
    reset_registry()
    yield
    reset_registry()


@pytest.fixture
def fake_site(tmp_path, monkeypatch):
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    yield FakeSite(root)
    for name in list(sys.modules):
        if name.startswith("fakeplug") and name != DOUBLES_MODULE:
            del sys.modules[name]


@pytest.fixture
def cli():
    """``cli("list", "--json")`` runs the command line in a subprocess (from the repository root)."""
    return lambda *args, **kwargs: run_cli(*args, **{"cwd": REPO, **kwargs})
