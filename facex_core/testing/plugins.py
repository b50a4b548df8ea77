"""Helpers for testing plugins as installed distributions: fake distributions, the registry, the CLI."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

from ..plugin_api.registry import registry, reset_registry  # noqa: F401 - reset_registry is public here


def installed(kind: str, distribution: str | None = None) -> list[str]:
    """Names of the working components of ``kind`` (optionally of one distribution)."""
    return sorted({e.name for e in registry().list(kind)
                   if e.kind == kind and e.status == "ok"
                   and (distribution is None or e.distribution.lower() == distribution.lower())})


def assert_light_module(module: str) -> None:
    """Importing ``module`` (a plugin's registration module) must not import torch or numpy-heavy code."""
    code = (f"import sys, importlib; importlib.import_module({module!r}); "
            "heavy = [m for m in ('torch', 'cv2', 'torchvision') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert not out, f"importing {module} pulled in {out}; keep plugin registration light"


@contextlib.contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Run a block with ``n`` torch threads (small-batch tests gain nothing from more)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class FakeSite:
    """A tiny site-packages of fake plugin distributions (put ``root`` on ``sys.path``, then :func:`reset_registry`)."""

    def __init__(self, root: Any) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def add_dist(self, name: str, version: str = "1.0", entry_points: dict[str, str] | None = None,
                 modules: dict[str, str] | None = None, requires: list[str] | None = None) -> None:
        """Write distribution ``name`` with ``facex.plugins`` ``entry_points`` and module sources."""
        info = self.root / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", f"Summary: {name} test plugin"]
        meta += [f"Requires-Dist: {r}" for r in requires or []]
        (info / "METADATA").write_text("\n".join(meta) + "\n")
        if entry_points:
            lines = ["[facex.plugins]"] + [f"{k} = {v}" for k, v in entry_points.items()]
            (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        for mod, src in (modules or {}).items():
            path = self.root / (mod.replace(".", "/") + ".py")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(src))

    def entry_points(self) -> list:
        """The ``facex.plugins`` entry points of the fake distributions (for ``Registry(...)``)."""
        return [ep for d in metadata.distributions(path=[str(self.root)])
                for ep in d.entry_points if ep.group == "facex.plugins"]


def run_cli(*args: str, env_extra: dict[str, str] | None = None, pythonpath: list[str] | None = None,
            cwd: Any = None, timeout: float = 600) -> Any:
    """Run ``facex-core ARGS`` in a fresh interpreter, the way users do; returns the CompletedProcess."""
    env = dict(os.environ, FACEX_NO_PROGRESS="1")
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(pythonpath + [env.get("PYTHONPATH", "")])
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "facex_core", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)
