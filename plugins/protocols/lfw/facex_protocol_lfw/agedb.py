"""AgeDB-30 pairs: the official ``04_FINAL_protocol_30_years.mat`` or a plain-text export of it.

The MAT-file holds one variable, ``splits``: 10 splits, each a 1x1 struct whose first field is a
2xN cell of the pairs (row 0 the first images, row 1 the second; each cell a 1x1 struct whose first
field is the image name without extension, next to its age) and whose second field is the 1xN
labels, 1 (same) or -1 (different). FaceX-Zoo and InsightFace read it by position, never by field
name, and so does this reader; single-element wrappers (a cell around the struct, as ``loadmat``
shows it) are looked through. Image paths are the names plus ``.jpg``; split k is fold k.

The text export has one pair per line, ``name1 name2 label`` (label 1 same, 0 or -1 different;
``.jpg`` is appended to names without an image extension), in split order; its 10 folds are
consecutive blocks of equal size.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .matfile import is_mat_file, read_mat
from .pairs import Pair, PairsFormatError, read_lines

AGEDB_FOLDS = 10
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def read_agedb30(path: str | Path) -> tuple[list[Pair], np.ndarray]:
    """Pairs and their fold ids from the official .mat file or its text export (by content)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: AgeDB-30 protocol file not found")
    return _from_mat(path) if is_mat_file(path) else _from_text(path)


def _unwrap(value: Any) -> Any:
    """Look through 1-element cells/structs and 1-field structs down to the content."""
    while True:
        if isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
            value = value.flat[0]
        elif isinstance(value, dict) and len(value) == 1:
            value = next(iter(value.values()))
        else:
            return value


def _image_name(value: Any, where: str, path: Path) -> str:
    value = _unwrap(value)
    if isinstance(value, dict) and value:
        value = _unwrap(next(iter(value.values())))  # the name is the struct's first field
    if not isinstance(value, str) or not value:
        raise PairsFormatError(f"{path}: {where}: expected an image name, found {type(value).__name__}")
    return value + ".jpg"


def _from_mat(path: Path) -> tuple[list[Pair], np.ndarray]:
    variables = read_mat(path)
    if "splits" not in variables:
        raise PairsFormatError(f"{path}: no variable 'splits' (found: {', '.join(variables) or 'none'})")
    splits = variables["splits"]
    splits = list(splits.ravel(order="F")) if isinstance(splits, np.ndarray) else [splits]
    if len(splits) < 2:
        raise PairsFormatError(f"{path}: 'splits' holds {len(splits)} split(s); at least 2 are needed")
    pairs: list[Pair] = []
    folds: list[int] = []
    for k, split in enumerate(splits):
        where = f"split {k + 1}"
        fold = _unwrap(split)
        if not isinstance(fold, dict) or len(fold) < 2:
            raise PairsFormatError(f"{path}: {where}: expected a struct of (pairs, labels)")
        cell, labels = list(fold.values())[:2]
        if not (isinstance(cell, np.ndarray) and cell.dtype == object and cell.ndim == 2
                and cell.shape[0] == 2):
            shape = getattr(cell, "shape", None)
            raise PairsFormatError(f"{path}: {where}: pairs must be a 2xN cell array, got {shape}")
        labels = np.asarray(labels).ravel()
        if labels.size != cell.shape[1]:
            raise PairsFormatError(f"{path}: {where}: {cell.shape[1]} pairs but {labels.size} labels")
        for c in range(cell.shape[1]):
            label = float(labels[c])
            if label not in (1.0, -1.0, 0.0):
                raise PairsFormatError(f"{path}: {where}, pair {c + 1}: label must be 1 or -1, "
                                       f"got {labels[c]}")
            pairs.append(Pair(_image_name(cell[0, c], f"{where}, pair {c + 1}", path),
                              _image_name(cell[1, c], f"{where}, pair {c + 1}", path), label == 1.0))
            folds.append(k)
    return pairs, np.asarray(folds)


def _with_suffix(name: str) -> str:
    return name if name.lower().endswith(_IMAGE_SUFFIXES) else name + ".jpg"


def _from_text(path: Path) -> tuple[list[Pair], np.ndarray]:
    path, lines = read_lines(path, "AgeDB-30 protocol file")
    pairs: list[Pair] = []
    for lineno, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3 or fields[2] not in ("1", "0", "-1"):
            raise PairsFormatError(f"{path}:{lineno}: expected 'name1 name2 label' with label 1, 0 "
                                   f"or -1, got {line.strip()!r}")
        pairs.append(Pair(_with_suffix(fields[0]), _with_suffix(fields[1]), fields[2] == "1"))
    if not pairs or len(pairs) % AGEDB_FOLDS:
        raise PairsFormatError(f"{path}: {len(pairs)} pairs cannot form {AGEDB_FOLDS} equal folds")
    return pairs, np.arange(len(pairs)) // (len(pairs) // AGEDB_FOLDS)
