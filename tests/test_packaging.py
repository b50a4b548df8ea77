"""Every distribution of this repository (facex-core, plugins/*/*, the facex-toolbox bundle and the
``new-plugin`` skeleton) has metadata that builds and publishes: a fast check of each pyproject.toml
(scripts/build-dists.sh builds, checks and installs the real wheels)."""
from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

import facex_core
from facex_core.cli.scaffold import KINDS, write_plugin

REPO = Path(__file__).resolve().parents[1]
FLOOR = ">=3.11"  # tomllib, BaseExceptionGroup: the one Python floor of every distribution
LICENSE = "Apache-2.0"
CORE = Version(facex_core.__version__)


def _load(folder: Path) -> dict:
    return tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))


FOLDERS = [REPO, *sorted(p.parent for p in REPO.glob("plugins/*/*/pyproject.toml")), REPO / "bundle"]
PROJECTS = {folder: _load(folder) for folder in FOLDERS}
VERSIONS = {d["project"]["name"]: Version(d["project"].get("version", facex_core.__version__))
            for d in PROJECTS.values()}


def requirements(project: dict) -> list[tuple[str, Requirement]]:
    """``(where, requirement)`` of every dependency and every extra's."""
    reqs = [("dependencies", Requirement(r)) for r in project.get("dependencies", [])]
    return reqs + [(f"extra {extra}", Requirement(r))
                   for extra, rs in project.get("optional-dependencies", {}).items() for r in rs]


def check_project(folder: Path, data: dict, known: dict[str, Version]) -> None:
    """The promises scripts/build-dists.sh and PyPI rely on, for the pyproject.toml in ``folder``."""
    project, where = data["project"], folder / "pyproject.toml"
    name = project["name"]
    assert re.fullmatch(r"facex-[a-z0-9]+(-[a-z0-9]+)*", name), f"{where}: name {name!r}"
    assert project.get("description"), f"{where}: no description"
    assert project.get("license") == LICENSE, (
        f"{where}: license must be the SPDX expression {LICENSE!r} (PEP 639), got {project.get('license')!r}")
    for pattern in project.get("license-files", []):
        assert list(folder.glob(pattern)), f"{where}: license-files {pattern!r} matches no file"
    backend = [Requirement(r) for r in data["build-system"]["requires"] if Requirement(r).name == "setuptools"]
    assert backend and not backend[0].specifier.contains("76.9"), (
        f"{where}: build-system must require setuptools>=77 (the first with PEP 639 license fields)")
    assert project.get("requires-python") == FLOOR, f"{where}: requires-python must be {FLOOR!r}"
    assert SpecifierSet(FLOOR).contains(f"{sys.version_info.major}.{sys.version_info.minor}")
    readme = project.get("readme")
    assert isinstance(readme, str) and (folder / readme).is_file(), f"{where}: readme {readme!r} missing"
    if name != "facex-core":
        Version(project["version"])  # a valid, static PEP 440 version
    for module in project.get("entry-points", {}).get("facex.plugins", {}).values():
        path = folder / Path(*module.split("."))
        assert path.with_suffix(".py").is_file() or (path / "__init__.py").is_file(), (
            f"{where}: entry point module {module} is not in the distribution")
    reqs = requirements(project)
    for context, req in reqs:
        if req.marker is not None:  # e.g. importlib-metadata; python_version<'3.10': never true here
            assert any(req.marker.evaluate({"python_version": v, "python_full_version": f"{v}.0"})
                       for v in ("3.11", "3.12", "3.13", "3.14")), f"{where}: {context}: dead marker in {req}"
        if req.name.startswith("facex-") and req.name != name:
            assert req.name in known, f"{where}: {context}: {req.name} is no distribution of this repository"
            assert req.specifier.contains(known[req.name]), (
                f"{where}: {context}: {req} excludes {req.name} {known[req.name]}")
    if name != "facex-core":
        core = [req for context, req in reqs if context == "dependencies" and req.name == "facex-core"]
        assert core, f"{where}: must depend on facex-core"
        upper = Version(f"{CORE.major}.{CORE.minor + 1}")
        assert core[0].specifier.contains(CORE) and not core[0].specifier.contains(upper), (
            f"{where}: facex-core range {core[0].specifier} must hold {CORE} and stop before {upper}")


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: str(f.relative_to(REPO)) or "facex-core")
def test_distribution_metadata(folder):
    check_project(folder, PROJECTS[folder], VERSIONS)


def test_names_are_unique_and_the_bundle_installs_the_core_with_onnx():
    names = [d["project"]["name"] for d in PROJECTS.values()]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    bundle = {Requirement(r).name: Requirement(r) for r in PROJECTS[REPO / "bundle"]["project"]["dependencies"]}
    assert bundle["facex-core"].extras == {"onnx"}
    # which plugins form the standard set is a choice (scripts/build-dists.sh names those left out);
    # check_project above already holds every one it lists to an existing distribution and its version
    assert len(bundle) > 1


def test_one_version_source():
    core = PROJECTS[REPO]
    assert "version" not in core["project"] and core["project"]["dynamic"] == ["version"]
    assert core["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "facex_core.version.__version__"}
    installed = metadata.version("facex-core")
    assert installed == facex_core.__version__, (
        f"installed metadata says {installed}, facex_core/version.py {facex_core.__version__}: "
        "rerun bash scripts/install.sh")


def test_core_extras_install_onnx_export_and_the_tests():
    extras = PROJECTS[REPO]["project"]["optional-dependencies"]
    assert {Requirement(r).name for r in extras["onnx"]} == {"onnx", "onnxscript", "onnxruntime"}
    assert "facex-core[onnx]" in extras["test"]


@pytest.mark.parametrize("kind", KINDS)
def test_new_plugin_skeletons_carry_publishable_metadata(tmp_path, kind):
    folder = tmp_path / kind
    write_plugin(kind, "demo_x", folder)
    check_project(folder, _load(folder), VERSIONS)
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "python -m build" not in readme and "twine" not in readme  # tools a FaceX install does not have
