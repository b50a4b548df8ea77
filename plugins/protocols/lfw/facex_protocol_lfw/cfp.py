"""CFP (Celebrities in Frontal-Profile) pairs from the official ``Protocol`` folder.

Layout: ``Pair_list_F.txt`` and ``Pair_list_P.txt`` list the frontal and profile images, one
``index path`` per line (1-based index, path relative to the ``Protocol`` folder, e.g.
``../Data/Images/001/frontal/01.jpg``). ``Split/FP/01..10`` and ``Split/FF/01..10`` each hold
``same.txt`` and ``diff.txt`` with one ``i,j`` pair per line (350 + 350 per split). In FP, ``i``
indexes the frontal list and ``j`` the profile list; in FF both index the frontal list. Split k is
fold k, its same pairs first. Image paths are returned relative to the dataset root (the parent of
``Protocol``), e.g. ``Data/Images/001/frontal/01.jpg``.
"""
from __future__ import annotations

import posixpath
from pathlib import Path

import numpy as np

from .pairs import Pair, PairsFormatError, read_lines

CFP_SPLITS = ("FP", "FF")


def read_image_list(path: Path) -> dict[int, str]:
    """``index -> image path relative to the dataset root`` from ``Pair_list_F/P.txt``."""
    path, lines = read_lines(path, "CFP image list")
    base = path.parent.name  # the lists' paths start from the Protocol folder
    images: dict[int, str] = {}
    for lineno, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or not fields[0].isdigit():
            raise PairsFormatError(f"{path}:{lineno}: expected 'index path', got {line.strip()!r}")
        index = int(fields[0])
        if index in images:
            raise PairsFormatError(f"{path}:{lineno}: index {index} listed twice")
        rel = posixpath.normpath(posixpath.join(base, fields[1].replace("\\", "/")))
        if rel.startswith("../") or rel == ".." or posixpath.isabs(rel):
            raise PairsFormatError(f"{path}:{lineno}: image path {fields[1]!r} points outside the "
                                   "dataset folder")
        images[index] = rel
    if not images:
        raise PairsFormatError(f"{path}: no images listed")
    return images


def _read_split_file(path: Path, first: dict[int, str], second: dict[int, str], same: bool,
                     lists: tuple[str, str]) -> list[Pair]:
    path, lines = read_lines(path, "CFP split file")
    pairs = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = line.strip().split(",")
        if len(fields) != 2 or not all(f.strip().isdigit() for f in fields):
            raise PairsFormatError(f"{path}:{lineno}: expected 'i,j' (two image indices), "
                                   f"got {line.strip()!r}")
        i, j = (int(f) for f in fields)
        for index, images, name in ((i, first, lists[0]), (j, second, lists[1])):
            if index not in images:
                raise PairsFormatError(f"{path}:{lineno}: index {index} is not in {name}")
        pairs.append(Pair(first[i], second[j], same))
    return pairs


def read_cfp(protocol_dir: str | Path, split: str) -> tuple[list[Pair], np.ndarray]:
    """Pairs and fold ids of CFP's ``FP`` (frontal-profile) or ``FF`` (frontal-frontal) protocol."""
    if split not in CFP_SPLITS:
        raise ValueError(f"CFP split must be one of {', '.join(CFP_SPLITS)}, got {split!r}")
    protocol_dir = Path(protocol_dir)
    frontal = read_image_list(protocol_dir / "Pair_list_F.txt")
    second_list = "Pair_list_P.txt" if split == "FP" else "Pair_list_F.txt"
    second = read_image_list(protocol_dir / second_list) if split == "FP" else frontal
    lists = ("Pair_list_F.txt", second_list)
    split_dir = protocol_dir / "Split" / split
    if not split_dir.is_dir():
        raise FileNotFoundError(f"{split_dir}: CFP split folder not found")
    fold_dirs = sorted((d for d in split_dir.iterdir() if d.is_dir() and d.name.isdigit()),
                       key=lambda d: int(d.name))
    if len(fold_dirs) < 2:
        raise PairsFormatError(f"{split_dir}: expected numbered fold folders 01..10, "
                               f"found {len(fold_dirs)}")
    pairs: list[Pair] = []
    folds: list[int] = []
    for k, fold_dir in enumerate(fold_dirs):
        fold = (_read_split_file(fold_dir / "same.txt", frontal, second, True, lists)
                + _read_split_file(fold_dir / "diff.txt", frontal, second, False, lists))
        pairs += fold
        folds += [k] * len(fold)
    return pairs, np.asarray(folds)
