"""Pairs of the LFW family as one :class:`Pair` type, and the parser of CPLFW / CALFW's two-line
format (``image label`` lines). LFW and RFW files (``name i j`` lines) are read by the core's
:func:`facex_core.read_lfw_pairs`; :func:`lfw_pairs` turns them into :class:`Pair` lists."""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from facex_core import PairsFormatError, read_lfw_pairs

__all__ = ["CROSS_LFW_FOLDS", "CROSS_LFW_PAIRS", "Pair", "PairsFormatError", "lfw_pairs",
           "read_cross_lfw_pairs", "read_lines"]

#: CPLFW and CALFW: 6,000 pairs, the first 3,000 positive, rebuilt into 10 folds of 300 + 300.
CROSS_LFW_PAIRS = 6000
CROSS_LFW_FOLDS = 10


class Pair(NamedTuple):
    """One verification pair: two image paths relative to the image root, and its label."""

    first: str
    second: str
    same: bool


def read_lines(path: str | Path, what: str = "pairs file") -> tuple[Path, list[str]]:
    """The file's lines, with a not-found error that says which file was expected."""
    path = Path(path)
    try:
        return path, path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: {what} not found") from None


def lfw_pairs(path: str | Path) -> tuple[tuple[int, int] | None, list[Pair]]:
    """``(header, pairs)`` of an LFW-format file (LFW's ``pairs.txt``, RFW's headerless
    ``<Race>_pairs.txt``), in file order; ``header`` is ``(folds, pairs_per_class)`` or ``None``."""
    header, pairs = read_lfw_pairs(path)
    return header, [Pair(p.first, p.second, p.same) for p in pairs]


def read_cross_lfw_pairs(path: str | Path, *, nonzero_is_same: bool = False) -> list[Pair]:
    """Read CPLFW's ``pairs_CPLFW.txt`` or CALFW's ``pairs_CALFW.txt``, returned in fold order.

    Each pair is two consecutive ``image label`` lines; the first line's integer label is the
    pair's (1 = same, 0 = different for CPLFW; CALFW marks positives with other non-zero numbers,
    hence ``nonzero_is_same``). The file must hold exactly 6,000 pairs. As FaceX-Zoo does, the
    first 3,000 pairs are taken as the positives and the last 3,000 as the negatives, and fold k
    is positives ``300k..300k+299`` followed by negatives ``3000+300k..``, so the result is 10
    consecutive blocks of 600. Labels stay as the file gives them.
    """
    path, lines = read_lines(path)
    entries: list[tuple[int, str, int]] = []  # (line number, image, label)
    for lineno, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise PairsFormatError(f"{path}:{lineno}: expected 2 fields (image label), "
                                   f"got {len(fields)}: {line.strip()!r}")
        try:
            label = int(fields[1])
        except ValueError:
            raise PairsFormatError(f"{path}:{lineno}: label {fields[1]!r} is not an integer") from None
        if not nonzero_is_same and label not in (0, 1):
            raise PairsFormatError(f"{path}:{lineno}: label must be 0 or 1, got {label}")
        entries.append((lineno, fields[0], label))
    if len(entries) % 2:
        raise PairsFormatError(f"{path}:{entries[-1][0]}: the last pair has only one line "
                               f"({len(entries)} image lines in all; pairs are two lines)")
    pairs = [Pair(first, second, label != 0)
             for (_, first, label), (_, second, _) in zip(entries[0::2], entries[1::2])]
    if len(pairs) != CROSS_LFW_PAIRS:
        raise PairsFormatError(f"{path}: expected exactly {CROSS_LFW_PAIRS} pairs "
                               f"({2 * CROSS_LFW_PAIRS} lines), got {len(pairs)}")
    half = CROSS_LFW_PAIRS // 2
    per_class = half // CROSS_LFW_FOLDS
    ordered: list[Pair] = []
    for k in range(CROSS_LFW_FOLDS):
        ordered += pairs[per_class * k:per_class * (k + 1)]
        ordered += pairs[half + per_class * k:half + per_class * (k + 1)]
    return ordered
