"""Fixtures of the synthetic data tests: a tiny config, the folder it makes, and the command line."""
from __future__ import annotations

from pathlib import Path

import pytest

from facex_core.testing import run_cli
from facex_data_synthetic.generate import generate
from facex_data_synthetic.plugin import SyntheticConfig

LOCK_NAME = ".facex.lock"  # the folder lock generate() holds; its text names the process, so it differs per run


@pytest.fixture(scope="session")
def tiny_config() -> SyntheticConfig:
    """6 training identities × 3 images; 6 test identities × 3 images in 3 folds of 2 identities, 4 pairs each."""
    return SyntheticConfig(train_identities=6, train_images_per_identity=3, test_identities=6,
                           test_images_per_identity=3, pairs_per_fold=4, folds=3, seed=0, image_size=112)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, tiny_config: SyntheticConfig) -> tuple[Path, dict]:
    """The tiny set, drawn once per module: ``(folder, generate's result)``."""
    out = tmp_path_factory.mktemp("tiny")
    return out, generate(tiny_config, out)


@pytest.fixture
def files():
    """``files(root)``: ``{relative path: bytes}`` of every file under ``root`` but the folder lock."""
    def read(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
                if p.is_file() and p.name != LOCK_NAME}
    return read


@pytest.fixture
def mtimes():
    """``mtimes(root)``: ``{relative path: mtime_ns}`` of every file under ``root`` but the folder lock."""
    def read(root: Path) -> dict[str, int]:
        return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*"))
                if p.is_file() and p.name != LOCK_NAME}
    return read


@pytest.fixture
def cli(tmp_path: Path):
    """``cli("demo", ...)`` runs ``facex-core`` in a subprocess from this test's temporary folder."""
    return lambda *args, **kwargs: run_cli(*args, **{"cwd": tmp_path, **kwargs})
