"""Parser for LFW's pairs.txt: which image pairs are compared and whether they are the same person."""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple


class Pair(NamedTuple):
    """One verification pair: two image paths relative to the image root, and its label."""

    first: str
    second: str
    same: bool


class PairsFormatError(ValueError):
    """A pairs-file line that is neither a 3-field positive nor a 4-field negative."""


def lfw_image(name: str, number: str) -> str:
    """Relative path of LFW image ``number`` of person ``name``: ``name/name_0001.jpg``."""
    if not (number.isascii() and number.isdigit()):
        raise ValueError(f"image number {number!r} is not a non-negative integer")
    return f"{name}/{name}_{int(number):04d}.jpg"


def read_pairs(path: str | Path, *, skip_header: bool = True) -> list[Pair]:
    """Read an LFW-format pairs file, keeping file order (LFW's folds are blocks of lines).

    Fields are whitespace-separated. ``name i j`` is a same-person pair, ``name1 i name2 j`` a
    different-person pair; blank lines are ignored. The first line is LFW's ``folds pairs`` header
    and is skipped unless ``skip_header`` is false (RFW's files have no header).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: pairs file not found") from None
    pairs: list[Pair] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if skip_header and lineno == 1:
            continue
        fields = line.split()
        if not fields:
            continue
        if len(fields) not in (3, 4):
            raise PairsFormatError(f"{path}:{lineno}: expected 3 fields (name i j) or 4 fields "
                                   f"(name1 i name2 j), got {len(fields)}: {line.strip()!r}")
        try:
            if len(fields) == 3:
                name, i, j = fields
                pairs.append(Pair(lfw_image(name, i), lfw_image(name, j), True))
            else:
                name1, i, name2, j = fields
                pairs.append(Pair(lfw_image(name1, i), lfw_image(name2, j), False))
        except ValueError:
            raise PairsFormatError(f"{path}:{lineno}: image numbers must be non-negative integers: "
                                   f"{line.strip()!r}") from None
    if not pairs:
        raise PairsFormatError(f"{path}: no pairs found")
    return pairs
