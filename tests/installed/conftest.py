"""Integration checks over the FaceX plugins that really are installed (third-party ones included).

The core's tests (tests/*.py) run against the test doubles only; this folder overrides their
hermetic :func:`facex_world` fixture so that discovery sees every installed distribution. With
nothing but facex-core installed, every test here passes vacuously or skips with its reason.
"""
from __future__ import annotations

import pytest

from facex_core.testing import reset_registry


@pytest.fixture(autouse=True)
def facex_world():
    """Whatever is installed (``FACEX_DISABLE_PLUGINS`` from the caller's environment still applies)."""
    reset_registry()
    yield
    reset_registry()
