"""LFW-format pairs files (``pairs.txt``): the one reader and writer every FaceX tool uses.

Layout: an optional header line ``folds pairs_per_class`` (LFW: ``10 300``; ``pairsDevTrain.txt``:
``1100``, one fold), then one pair per line, ``name i j`` (same person, images i and j) or
``name1 i name2 j`` (different people), separated by white space; blank lines are ignored. Image
``i`` of ``name`` is ``name/name_000i.jpg`` under the image root (as in LFW, RFW, FaceX's synthetic sets)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple, Sequence

from ..errors import DataError
from ..runtime.files import write_atomic


class PairsFormatError(DataError):
    """A pairs file that does not follow its format; the message names the file and line."""


class LfwPair(NamedTuple):
    """One line of a pairs file."""

    name1: str
    i1: int
    name2: str
    i2: int
    same: bool
    """True for a ``name i j`` line."""

    @property
    def first(self) -> str:
        return lfw_image(self.name1, self.i1)

    @property
    def second(self) -> str:
        return lfw_image(self.name2, self.i2)

    def line(self) -> str:
        """The pair as a tab-separated line of a pairs file (``name i j`` for the same person)."""
        return "\t".join(map(str, (self.name1, self.i1, self.i2) if self.same else self[:4]))


def lfw_image(name: str, number: int | str, suffix: str = ".jpg") -> str:
    """Relative path of image ``number`` of person ``name``: ``name/name_0001.jpg``."""
    return f"{name}/{name}_{int(number):04d}{suffix}"


def _number(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise ValueError(text)
    return int(text)


def read_lfw_pairs(path: str | os.PathLike) -> tuple[tuple[int, int] | None, list[LfwPair]]:
    """``(header, pairs)`` of an LFW-format pairs file, in file order (LFW's folds are blocks); ``header``
    is ``(folds, pairs_per_class)``, or ``None`` (RFW's files), and must match the number of pairs."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: pairs file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PairsFormatError(f"{path}: cannot read as a text pairs file ({exc})") from None
    header = None
    pairs: list[LfwPair] = []
    for lineno, text in enumerate(lines, start=1):
        fields = text.split()
        if not fields:
            continue
        if any("/" in f or "\\" in f or f in (".", "..") for f in fields):
            raise PairsFormatError(f"{path}:{lineno}: a person's name may not hold a path ('/' or '..'): images "
                                   f"must stay inside the image folder: {text.strip()!r}")
        is_header = not pairs and header is None and len(fields) in (1, 2)  # pairsDevTrain.txt: "1100"
        if not is_header and len(fields) not in (3, 4):
            raise PairsFormatError(f"{path}:{lineno}: expected 'name i j' or 'name1 i name2 j', got {text.strip()!r}")
        try:
            if is_header:
                header = (_number(fields[0]), _number(fields[1])) if len(fields) == 2 else (1, _number(fields[0]))
            elif len(fields) == 3:
                pairs.append(LfwPair(fields[0], _number(fields[1]), fields[0], _number(fields[2]), True))
            else:
                pairs.append(LfwPair(fields[0], _number(fields[1]), fields[2], _number(fields[3]), False))
        except ValueError:
            raise PairsFormatError(f"{path}:{lineno}: image numbers (and the header) must be non-negative "
                                   f"integers: {text.strip()!r}") from None
    if not pairs:
        raise PairsFormatError(f"{path}: no pairs found")
    if header is not None and header[0] * header[1] * 2 != len(pairs):
        raise PairsFormatError(f"{path}: header '{header[0]} {header[1]}' announces {header[0]} folds of "
                               f"{header[1]} same + {header[1]} different pairs = {2 * header[0] * header[1]}, "
                               f"but the file holds {len(pairs)}")
    return header, pairs


def write_lfw_pairs(path: str | os.PathLike, pairs: Sequence[LfwPair], header: tuple[int, int] | None) -> None:
    """Write a pairs file (atomically) that :func:`read_lfw_pairs` reads back as ``(header, pairs)``."""
    lines = ([f"{header[0]}\t{header[1]}"] if header is not None else []) + [p.line() for p in pairs]
    write_atomic(path, "\n".join(lines) + "\n")
