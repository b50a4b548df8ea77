"""Shared fixtures: fake plugin distributions written as real ``*.dist-info`` folders."""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


class FakeSite:
    """A folder on sys.path holding dist-info metadata and modules, like a tiny site-packages."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def add_dist(self, name: str, version: str = "1.0", entry_points: dict[str, str] | None = None,
                 modules: dict[str, str] | None = None, requires: list[str] | None = None) -> None:
        info = self.root / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        meta = [f"Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", f"Summary: {name} test plugin"]
        meta += [f"Requires-Dist: {r}" for r in requires or []]
        (info / "METADATA").write_text("\n".join(meta) + "\n")
        if entry_points:
            lines = ["[facex.plugins]"] + [f"{k} = {v}" for k, v in entry_points.items()]
            (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        for mod, src in (modules or {}).items():
            path = self.root / (mod.replace(".", "/") + ".py")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(src))

    def entry_points(self):
        from importlib import metadata

        return [ep for d in metadata.distributions(path=[str(self.root)])
                for ep in d.entry_points if ep.group == "facex.plugins"]


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
    from facex_core.plugin_api.registry import reset_registry

    fake_site.add_dist(dist, "1.0", {module: module})
    reset_registry()
    return importlib.import_module(module)


@pytest.fixture
def doubles(fake_site, monkeypatch):
    """The SDK test doubles (tests/doubles/fakeplug_sdk.py: detector test_square, recognizer test_colour)."""
    from facex_core.plugin_api.registry import reset_registry

    monkeypatch.setenv("FACEX_NO_PROGRESS", "1")
    yield _install_double(fake_site, "fakeplug-sdk", "fakeplug_sdk")
    reset_registry()


@pytest.fixture
def mask_double(fake_site, monkeypatch):
    """The mask-adder test double (tests/doubles/fakeplug_stripes.py: mask_adder ``stripes``); its module."""
    from facex_core.plugin_api.registry import reset_registry

    monkeypatch.setenv("FACEX_NO_PROGRESS", "1")
    yield _install_double(fake_site, "facex-mask-stripes", "fakeplug_stripes")
    reset_registry()


def run_cli(*args: str, env_extra: dict[str, str] | None = None, pythonpath: list[str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``facex-core`` in a fresh interpreter (the way users do)."""
    env = dict(os.environ)
    env["FACEX_NO_PROGRESS"] = "1"
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(pythonpath + [env.get("PYTHONPATH", "")])
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "facex_core", *args], capture_output=True, text=True,
                          env=env, cwd=cwd or REPO, timeout=600)


@pytest.fixture
def cli():
    """``cli("list", "--json")`` runs the command line in a subprocess."""
    return run_cli
