"""``facex-core new-plugin``: write a skeleton plugin distribution that installs, lists and tests green, from the
``str.format`` templates (``{name}``, ``{pkg}``, ...) in ``facex_core/_templates/new_plugin``, a folder per kind."""
from __future__ import annotations

import re
import sys
from pathlib import Path

from ..version import __version__

TEMPLATES = Path(__file__).resolve().parents[1] / "_templates" / "new_plugin"
#: Kinds a skeleton exists for, and the word their distribution and package names use.
KIND_WORD = {"backbone": "backbone", "head": "head", "protocol": "protocol", "training_mode": "mode",
             "distill_loss": "distill", "data_format": "data", "command": "command"}
KINDS = tuple(KIND_WORD)


def write_plugin(kind: str, name: str, directory: Path) -> list[Path]:
    """Write a plugin distribution for component (or command) ``name`` of ``kind`` into ``directory``."""
    if kind not in KIND_WORD:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"plugin name {name!r}: use lower-case letters, digits and '_'")
    if directory.exists() and any(directory.iterdir()):
        raise FileExistsError(f"{directory} exists and is not empty")
    word = KIND_WORD[kind]
    major, minor = (int(x) for x in __version__.split(".")[:2])
    ctx = {"kind": kind, "name": name, "dist": f"facex-{word}-{name.replace('_', '-')}",
           "pkg": f"facex_{word}_{name}", "module": name, "python": sys.executable,
           "cls": "".join(part.capitalize() for part in name.split("_")),
           "title": name.replace("_", " ").title(), "entry": "commands" if kind == "command" else name,
           "major_minor": f"{major}.{minor}", "next_minor": f"{major}.{minor + 1}"}
    files = {
        directory / "pyproject.toml": TEMPLATES / "pyproject.toml",
        directory / "README.md": TEMPLATES / "README.md",
        directory / ctx["pkg"] / "plugin.py": TEMPLATES / kind / "plugin.py.tmpl",
        directory / ctx["pkg"] / f"{name}.py": TEMPLATES / kind / "impl.py.tmpl",
        directory / "tests" / f"test_{name}.py": TEMPLATES / kind / "test.py.tmpl",
    }
    (directory / ctx["pkg"]).mkdir(parents=True, exist_ok=True)
    (directory / ctx["pkg"] / "__init__.py").write_text(f'"""{ctx["title"]}: a FaceX {kind} plugin."""\n')
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.read_text(encoding="utf-8").format(**ctx), encoding="utf-8")
    return [directory / ctx["pkg"] / "__init__.py", *files]
