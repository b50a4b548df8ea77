"""Check the wheels and sdists in a folder before they are uploaded (scripts/build-dists.sh runs it).

    python scripts/check_dists.py dist/

For every distribution: one pure wheel and one sdist of the same name and version; core metadata that
``packaging`` validates (what PyPI checks on upload), with a PEP 639 ``License-Expression`` and no legacy
``License`` field, ``Requires-Python``, a Markdown long description; the license files it names inside
both archives; every ``facex.plugins`` entry point and console script importable from the wheel's own
files. Prints one line per distribution and exits 1 on any problem.
"""
from __future__ import annotations

import re
import sys
import tarfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path

from packaging.metadata import Metadata
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

LICENSE = "Apache-2.0"


def check_metadata(raw: str, where: str) -> tuple[Metadata, list[str]]:
    problems = []
    try:
        meta = Metadata.from_email(raw, validate=True)
    except Exception as exc:  # an ExceptionGroup of every invalid field
        return None, [f"{where}: invalid metadata: {exc!r}"[:400]]
    headers = HeaderParser().parsestr(raw)
    if meta.license_expression != LICENSE:
        problems.append(f"{where}: License-Expression {meta.license_expression!r}, expected {LICENSE!r}")
    if "License" in headers:
        problems.append(f"{where}: legacy 'License' field next to License-Expression (PEP 639)")
    if meta.requires_python is None:
        problems.append(f"{where}: no Requires-Python")
    if meta.description_content_type != "text/markdown" or len((meta.description or "").strip()) < 40:
        problems.append(f"{where}: no Markdown long description (readme)")
    if not meta.summary:
        problems.append(f"{where}: no Summary")
    return meta, problems


def check_wheel(path: Path) -> tuple[str, str, list[str]]:
    name, version, _, tags = parse_wheel_filename(path.name)
    problems = []
    if {str(t) for t in tags} != {"py3-none-any"}:
        problems.append(f"{path.name}: not a pure-Python wheel ({', '.join(sorted(map(str, tags)))})")
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        info = f"{path.name.split('-')[0]}-{version}.dist-info"
        if f"{info}/RECORD" not in names:
            return name, str(version), [f"{path.name}: no {info}/RECORD"]
        meta, found = check_metadata(zf.read(f"{info}/METADATA").decode("utf-8"), path.name)
        problems += found
        if meta is not None:
            if canonicalize_name(meta.name) != name or meta.version != version:
                problems.append(f"{path.name}: metadata says {meta.name} {meta.version}")
            for lic in meta.license_files or []:
                if f"{info}/licenses/{lic}" not in names:
                    problems.append(f"{path.name}: License-File {lic} not in {info}/licenses/")
        entry_points = zf.read(f"{info}/entry_points.txt").decode() if f"{info}/entry_points.txt" in names else ""
        for target in re.findall(r"^\s*[^#\[\s][^=]*=\s*([\w.]+)", entry_points, re.M):
            module = target.replace(".", "/")
            if f"{module}.py" not in names and f"{module}/__init__.py" not in names:
                problems.append(f"{path.name}: entry point module {target} is not in the wheel")
    return name, str(version), problems


def check_sdist(path: Path) -> tuple[str, str, list[str]]:
    name, version = parse_sdist_filename(path.name)
    top = path.name[: -len(".tar.gz")]
    with tarfile.open(path) as tf:
        names = set(tf.getnames())
        missing = [f for f in ("PKG-INFO", "pyproject.toml") if f"{top}/{f}" not in names]
        if missing:
            return name, str(version), [f"{path.name}: lacks {', '.join(missing)}"]
        meta, problems = check_metadata(tf.extractfile(f"{top}/PKG-INFO").read().decode("utf-8"), path.name)
    for lic in (meta.license_files if meta else None) or []:
        if f"{top}/{lic}" not in names:
            problems.append(f"{path.name}: License-File {lic} not in the sdist")
    return name, str(version), problems


def main(argv: list[str]) -> int:
    folder = Path(argv[0] if argv else "dist")
    wheels = {(n, v): found for n, v, found in map(check_wheel, sorted(folder.glob("*.whl")))}
    sdists = {(n, v): found for n, v, found in map(check_sdist, sorted(folder.glob("*.tar.gz")))}
    bad = 0
    for key in sorted(set(wheels) | set(sdists)):
        problems = wheels.get(key, [f"{key[0]} {key[1]}: no wheel"]) + sdists.get(key, [f"{key[0]} {key[1]}: no sdist"])
        bad += bool(problems)
        print(f"{'ok  ' if not problems else 'FAIL'} {key[0]} {key[1]}" + "".join(f"\n     {p}" for p in problems))
    print(f"{len(set(wheels) | set(sdists))} distributions in {folder}, {bad} with problems")
    return 1 if bad or not wheels else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
