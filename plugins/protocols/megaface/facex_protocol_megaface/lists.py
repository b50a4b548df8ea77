"""Readers for the MegaFace devkit lists, the insightface noise lists and image lists.

* Devkit JSON (``facescrub_features_list.json``, ``megaface_features_list.json_1000000_1``): an
  object with a ``path`` list (image paths relative to the dataset folder) and, for FaceScrub, a
  parallel ``id`` list (the identity of each image).
* insightface noise lists (``facescrub_noises.txt``, ``megaface_noises.txt``): one image per line,
  lines starting with ``#`` are comments. FaceScrub entries are file names (``Aaron_Eckhart_136.png``);
  MegaFace entries are ``id1/id2/file`` paths, optionally as the second of tab-separated fields.
* Image lists (FaceX-Zoo's ``img_list.txt``): one path per line, relative to the crop folder.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple


class ListFormatError(ValueError):
    """A list file whose content does not follow its format; the message names file and line."""


class ProbeList(NamedTuple):
    """The FaceScrub probe set: image paths and the identity of each, in file order."""

    paths: list[str]
    ids: list[str]


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: {what} not found") from None


def _read_json(path: str | Path, what: str) -> dict:
    path = Path(path)
    try:
        data = json.loads(_read_text(path, what))
    except json.JSONDecodeError as exc:
        raise ListFormatError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ListFormatError(f"{path}: expected a JSON object with a 'path' list, "
                              f"got {type(data).__name__}")
    return data


def _string_list(data: dict, key: str, path: Path) -> list[str]:
    if key not in data:
        raise ListFormatError(f"{path}: no {key!r} list (keys: {', '.join(map(repr, data)) or 'none'})")
    values = data[key]
    if not isinstance(values, list) or not values:
        raise ListFormatError(f"{path}: {key!r} must be a non-empty list")
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise ListFormatError(f"{path}: {key}[{i}] must be a string, got {v!r}")
        out.append(str(v))
    return out


def read_probe_list(path: str | Path) -> ProbeList:
    """Read the devkit FaceScrub JSON: parallel ``path`` and ``id`` lists of the same length."""
    path = Path(path)
    data = _read_json(path, "FaceScrub probe list")
    paths = _string_list(data, "path", path)
    ids = _string_list(data, "id", path)
    if len(paths) != len(ids):
        raise ListFormatError(f"{path}: 'path' has {len(paths)} entries but 'id' has {len(ids)}; "
                              "they must be parallel")
    _check_unique(paths, path)
    return ProbeList(paths, ids)


def read_distractor_list(path: str | Path) -> list[str]:
    """Read the devkit MegaFace JSON: its ``path`` list."""
    path = Path(path)
    paths = _string_list(_read_json(path, "MegaFace distractor list"), "path", path)
    _check_unique(paths, path)
    return paths


def _check_unique(paths: list[str], source: Path) -> None:
    seen: set[str] = set()
    for i, p in enumerate(paths):
        if p in seen:
            raise ListFormatError(f"{source}: path[{i}] {p!r} is listed twice")
        seen.add(p)


def _entries(path: Path, what: str):
    """(line number, stripped text) of each non-blank, non-comment line."""
    for lineno, line in enumerate(_read_text(path, what).splitlines(), start=1):
        text = line.strip()
        if text and not text.startswith("#"):
            yield lineno, text


def read_facescrub_noises(path: str | Path) -> list[str]:
    """FaceScrub noise file names, e.g. ``Aaron_Eckhart_136.png``.

    The person is the name up to its last ``_``, so a name without ``_`` (or with a folder) is an
    error.
    """
    path = Path(path)
    names = []
    for lineno, text in _entries(path, "FaceScrub noise list"):
        stem = text.rsplit(".", 1)[0] if "." in text else text
        if "/" in text or "_" not in stem or stem.startswith("_"):
            raise ListFormatError(f"{path}:{lineno}: expected an image file name 'Person_Name_123.png', "
                                  f"got {text!r}")
        names.append(text)
    return names


def read_megaface_noises(path: str | Path) -> list[str]:
    """MegaFace noise paths, e.g. ``375/37531198@N00/4174611825_0.jpg``.

    A line with several tab-separated fields names its image in the second field (insightface's
    rule). Each entry needs at least the three parts ``id1/id2/file``.
    """
    path = Path(path)
    entries = []
    for lineno, text in _entries(path, "MegaFace noise list"):
        fields = text.split("\t")
        entry = fields[1].strip() if len(fields) > 1 else text
        if len([part for part in entry.split("/") if part]) < 3:
            raise ListFormatError(f"{path}:{lineno}: expected a distractor path 'id1/id2/file.jpg', "
                                  f"got {entry!r}")
        entries.append(entry)
    return entries


def read_image_list(path: str | Path) -> set[str]:
    """Relative image paths, one per line (blank lines skipped)."""
    path = Path(path)
    return {line.strip() for line in _read_text(path, "image list").splitlines() if line.strip()}
