"""Writes a killed process cannot leave half-done: each file goes to ``.NAME.tmp-PID``, renamed in when complete."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Any, Iterator

TEMPORARY_GLOB = ".*.tmp-*"  #: Glob pattern of the temporaries :func:`atomic_output` creates.


def temporary_path(path: str | os.PathLike) -> Path:
    """The hidden temporary that stands in for ``path`` while it is written (unique per process)."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "wb", *, fsync: bool = False,
                  encoding: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary beside ``path`` for writing; on success it replaces ``path`` in one step
    (``fsync``: a crash of the machine then leaves the old or the new file, never an empty one)."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        with open(tmp, mode, encoding=encoding if "b" not in mode else None) as fh:
            yield fh
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` through a temporary and a rename."""
    with atomic_output(path, "wb") as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)


def remove_temporaries(folder: str | os.PathLike) -> int:
    """Delete the temporaries a killed run left anywhere under ``folder``; returns how many."""
    stale = list(Path(folder).rglob(TEMPORARY_GLOB)) if Path(folder).is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)
