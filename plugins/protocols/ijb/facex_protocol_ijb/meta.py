"""Readers for the IJB-B / IJB-C meta files as insightface distributes them (``IJBC/meta/``).

* ``<t>_face_tid_mid.txt``: ``image tid mid`` per line: the image, its template id, its media id.
* ``<t>_template_pair_label.txt``: ``t1 t2 label`` per line (label 1 = same subject).
* ``<t>_name_5pts_score.txt``: ``image x1 y1 ... x5 y5 score`` per line: five landmarks and the
  detector's face score.
* ``<t>_1N_gallery_G1.csv`` / ``_G2`` (IJB-B: ``_S1`` / ``_S2``) and ``<t>_1N_probe_mixed.csv``:
  NIST's comma-separated 1:N lists, a header line then one row per image; the first two columns
  are ``TEMPLATE_ID`` and ``SUBJECT_ID`` (the rest are not used).

Fields are separated by single spaces in the text files; any whitespace is accepted here.
"""
from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np


class MetaFormatError(ValueError):
    """A meta-file line that does not follow its format; the message names file and line."""


class TemplateMedia(NamedTuple):
    """``<t>_face_tid_mid.txt``: one entry per line, in file order."""

    images: list[str]
    templates: np.ndarray
    medias: np.ndarray


class TemplatePairs(NamedTuple):
    """``<t>_template_pair_label.txt``: template ids of each pair and its label, in file order."""

    first: np.ndarray
    second: np.ndarray
    same: np.ndarray


class TemplateSubjects(NamedTuple):
    """A 1:N list: each template once (first appearance order) and its subject."""

    templates: np.ndarray
    subjects: np.ndarray


def _lines(path: Path, what: str):
    """(line number, fields) of each non-blank line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: {what} not found") from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if fields:
            yield lineno, fields


def _int(text: str, path: Path, lineno: int, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise MetaFormatError(f"{path}:{lineno}: {name} must be an integer, got {text!r}") from None


def read_template_media(path: str | Path) -> TemplateMedia:
    """Read ``<t>_face_tid_mid.txt``."""
    path = Path(path)
    images, templates, medias = [], [], []
    for lineno, fields in _lines(path, "template/media list"):
        if len(fields) != 3:
            raise MetaFormatError(f"{path}:{lineno}: expected 3 fields 'image tid mid', got {len(fields)}: "
                                  f"{' '.join(fields)!r}")
        images.append(fields[0])
        templates.append(_int(fields[1], path, lineno, "template id"))
        medias.append(_int(fields[2], path, lineno, "media id"))
    if not images:
        raise MetaFormatError(f"{path}: no entries")
    return TemplateMedia(images, np.array(templates, dtype=np.int64), np.array(medias, dtype=np.int64))


def read_template_pairs(path: str | Path) -> TemplatePairs:
    """Read ``<t>_template_pair_label.txt`` (15.6M lines for IJB-C: parsed by numpy's C reader;
    a malformed file is then scanned line by line to name the bad line)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: template pair list not found")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "input contained no data": reported below
        try:
            table = np.loadtxt(path, dtype=np.int64, ndmin=2)
        except ValueError:
            table = None
    if table is not None and table.size == 0:
        raise MetaFormatError(f"{path}: no pairs")
    if table is None or table.shape[1] != 3:
        _locate_pair_error(path)
        raise MetaFormatError(f"{path}: expected 3 integer fields 't1 t2 label' per line")
    labels = table[:, 2]
    bad = np.flatnonzero((labels != 0) & (labels != 1))
    if bad.size:
        _locate_pair_error(path)
    return TemplatePairs(table[:, 0].copy(), table[:, 1].copy(), labels.astype(bool))


def _locate_pair_error(path: Path) -> None:
    for lineno, fields in _lines(path, "template pair list"):
        if len(fields) != 3:
            raise MetaFormatError(f"{path}:{lineno}: expected 3 fields 't1 t2 label', got {len(fields)}: "
                                  f"{' '.join(fields)!r}")
        _int(fields[0], path, lineno, "template id")
        _int(fields[1], path, lineno, "template id")
        if fields[2] not in ("0", "1"):
            raise MetaFormatError(f"{path}:{lineno}: label must be 0 or 1, got {fields[2]!r}")


def read_face_scores(path: str | Path) -> dict[str, float]:
    """Read ``<t>_name_5pts_score.txt``: image -> detector face score (the last field)."""
    path = Path(path)
    scores: dict[str, float] = {}
    for lineno, fields in _lines(path, "landmark/score list"):
        if len(fields) != 12:
            raise MetaFormatError(f"{path}:{lineno}: expected 12 fields 'image x1 y1 ... x5 y5 score', "
                                  f"got {len(fields)}")
        try:
            score = float(fields[11])
            [float(v) for v in fields[1:11]]
        except ValueError:
            raise MetaFormatError(f"{path}:{lineno}: landmarks and score must be numbers: "
                                  f"{' '.join(fields)!r}") from None
        if not np.isfinite(score):
            raise MetaFormatError(f"{path}:{lineno}: score must be finite, got {fields[11]!r}")
        if fields[0] in scores and scores[fields[0]] != score:
            raise MetaFormatError(f"{path}:{lineno}: image {fields[0]!r} is listed again with another score")
        scores[fields[0]] = score
    return scores


def read_template_subjects(path: str | Path) -> TemplateSubjects:
    """Read a 1:N CSV (header ``TEMPLATE_ID,SUBJECT_ID,...``, then one row per image)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: 1:N template list not found") from None
    rows = csv.reader(text.splitlines())
    header = next(rows, None)
    if not header or [h.strip().upper() for h in header[:2]] != ["TEMPLATE_ID", "SUBJECT_ID"]:
        raise MetaFormatError(f"{path}:1: expected the header 'TEMPLATE_ID,SUBJECT_ID,...', got {header!r}")
    subject_of: dict[int, int] = {}
    for lineno, row in enumerate(rows, start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 2:
            raise MetaFormatError(f"{path}:{lineno}: expected at least 2 columns, got {len(row)}")
        tid = _int(row[0].strip(), path, lineno, "TEMPLATE_ID")
        sid = _int(row[1].strip(), path, lineno, "SUBJECT_ID")
        if subject_of.setdefault(tid, sid) != sid:
            raise MetaFormatError(f"{path}:{lineno}: template {tid} is listed with subjects "
                                  f"{subject_of[tid]} and {sid}")
    if not subject_of:
        raise MetaFormatError(f"{path}: no templates")
    return TemplateSubjects(np.array(list(subject_of), dtype=np.int64),
                            np.array(list(subject_of.values()), dtype=np.int64))


def read_image_list(path: str | Path) -> set[str]:
    """Relative image paths, one per line (blank lines skipped)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: image list not found") from None
    return {line.strip() for line in text.splitlines() if line.strip()}
