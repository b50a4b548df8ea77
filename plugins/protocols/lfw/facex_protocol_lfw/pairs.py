"""Parsers for the text pairs files of the LFW family: LFW and RFW (``name i j`` lines) and CPLFW /
CALFW (two consecutive ``image label`` lines per pair)."""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

#: CPLFW and CALFW: 6,000 pairs, the first 3,000 positive, rebuilt into 10 folds of 300 + 300.
CROSS_LFW_PAIRS = 6000
CROSS_LFW_FOLDS = 10


class Pair(NamedTuple):
    """One verification pair: two image paths relative to the image root, and its label."""

    first: str
    second: str
    same: bool


class PairsFormatError(ValueError):
    """A pairs file that does not follow its format; the message names the file (and line)."""


def read_lines(path: str | Path, what: str = "pairs file") -> tuple[Path, list[str]]:
    """The file's lines, with a not-found error that says which file was expected."""
    path = Path(path)
    try:
        return path, path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: {what} not found") from None


def lfw_image(name: str, number: str) -> str:
    """Relative path of LFW image ``number`` of person ``name``: ``name/name_0001.jpg``."""
    if not (number.isascii() and number.isdigit()):
        raise ValueError(f"image number {number!r} is not a non-negative integer")
    return f"{name}/{name}_{int(number):04d}.jpg"


def read_pairs(path: str | Path, *, skip_header: bool = True) -> list[Pair]:
    """Read an LFW-format pairs file, keeping file order (LFW's folds are blocks of lines).

    Fields are whitespace-separated. ``name i j`` is a same-person pair, ``name1 i name2 j`` a
    different-person pair; blank lines are ignored. The first line is LFW's ``folds pairs`` header
    and is skipped unless ``skip_header`` is false (RFW's files have no header). RFW names its
    images like LFW (``m.0c7mh2/m.0c7mh2_0003.jpg``), so the same path rule serves both.
    """
    path, lines = read_lines(path)
    pairs: list[Pair] = []
    for lineno, line in enumerate(lines, start=1):
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
