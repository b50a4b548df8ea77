"""The core never names a plugin: no string in facex_core's code (docstrings aside) holds the name of an
installed plugin distribution or component, or a path under plugins/."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import facex_core

CORE = Path(facex_core.__file__).resolve().parent
# component names that are also words of the core's own vocabulary: the ONNX file format, the "facex."
# metadata / entry-point namespace, and "distill", the word of the distill_loss kind in distribution names
GENERIC = {"onnx", "facex", "distill"}


def code_strings(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string literal in ``path`` that is not a docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs]


def names_in(text: str, dists: set[str], components: set[str]) -> list[str]:
    words = re.compile(r"(?<![\w.-])(" + "|".join(map(re.escape, sorted(components))) + r")(?![\w-])")
    return [d for d in dists if d in text] + (["plugins/"] if "plugins/" in text else []) + words.findall(text)


def test_name_finder_sees_whole_names_only():
    assert names_in('e.g. name = "lfw"', {"facex-sdk"}, {"lfw"}) == ["lfw"]
    assert names_in("pip install facex-sdk", {"facex-sdk"}, {"lfw"}) == ["facex-sdk"]
    assert names_in("see plugins/sdk", set(), {"lfw"}) == ["plugins/"]
    assert names_in("lfw_pairs.txt or calfw", set(), {"lfw"}) == []


def test_core_code_names_no_installed_plugin():
    entries = [e for e in facex_core.registry().list() if e.distribution != "facex-core"]
    dists = {e.distribution for e in entries}
    components = {e.name for e in entries if e.kind not in ("command", "config")} - GENERIC
    if not components:
        pytest.skip("no plugin distribution is installed")
    found = [f"{path.relative_to(CORE.parent)}:{line}: {name!r} in {text[:60]!r}"
             for path in sorted(CORE.rglob("*.py")) for line, text in code_strings(path)
             for name in names_in(text, dists, components)]
    assert not found, "the core names plugins:\n" + "\n".join(found)
