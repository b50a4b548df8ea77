"""Long jobs that write into a folder: one lock, one settings check, one worker pool for all of them."""
from __future__ import annotations

import datetime
import json
import multiprocessing
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, TypeVar

from ..errors import ConfigError
from .files import write_atomic

T = TypeVar("T")
R = TypeVar("R")
LOCK_NAME = ".facex.lock"


class FolderLock:
    """Exclusive lock of a job's output folder (a context manager); ``what`` names the job. The
    operating system releases it when the process dies, so a killed job leaves no stale lock."""

    def __init__(self, folder: str | os.PathLike, what: str) -> None:
        self.folder = Path(folder)
        self.what = what
        self._fh: Any = None

    def __enter__(self) -> "FolderLock":
        import fcntl

        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / LOCK_NAME
        fh = open(path, "a+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise ConfigError(f"{self.folder}: in use by {holder}; wait for it to finish, or choose another "
                              f"folder for this {self.what}") from None
        fh.seek(0)
        fh.truncate()
        started = datetime.datetime.now().isoformat(timespec="seconds")
        fh.write(f"`{' '.join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv))}` "
                 f"(pid {os.getpid()} on {socket.gethostname()}, since {started})\n")
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()  # closing releases the lock
            self._fh = None


def settings_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """``key: X there, Y now; ...`` for every key whose value differs (empty when none does)."""
    missing = "<absent>"
    return "; ".join(f"{k}: {old.get(k, missing)!r} there, {new.get(k, missing)!r} now"
                     for k in sorted(set(old) | set(new)) if old.get(k, missing) != new.get(k, missing))


def check_settings(record: str | os.PathLike, settings: Mapping[str, Any], what: str) -> bool:
    """Compare a job's ``settings`` with those recorded at ``record`` (written when absent); returns
    whether a record existed. Other settings or an unreadable record are a :class:`ConfigError`."""
    record = Path(record)
    want = json.loads(json.dumps(settings, sort_keys=True, default=str))  # the form it has once read back
    if not record.is_file():
        record.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(record, json.dumps(want, indent=2, sort_keys=True) + "\n")
        return False
    try:
        have = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        have = None
    if not isinstance(have, dict):
        raise ConfigError(f"{record.parent}: its {what} record {record.name} is unreadable; delete the folder "
                          "or choose another")
    if have != want:
        raise ConfigError(f"{record.parent}: holds a {what} made with other settings ({settings_diff(have, want)}); "
                          "rerun with the same settings to continue it, or choose another folder")
    return True


def _start_worker(initializer: Callable[..., None] | None, initargs: tuple) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    import cv2

    cv2.setNumThreads(1)  # the processes are the parallelism
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    if initializer is not None:
        initializer(*initargs)


def parallel_map(fn: Callable[[T], R], items: Iterable[T], workers: int, *,
                 initializer: Callable[..., None] | None = None, initargs: tuple = (),
                 ordered: bool = True, chunksize: int = 1) -> Iterator[R]:
    """``fn`` over ``items`` in this process (``workers`` 0) or in spawned processes (torch and OpenCV are
    not fork-safe) that ignore Ctrl-C: stopping early, an exception or Ctrl-C terminates them."""
    items = list(items)
    if workers <= 0 or not items:
        if initializer is not None:
            initializer(*initargs)
        yield from map(fn, items)
        return
    pool = multiprocessing.get_context("spawn").Pool(min(workers, len(items)), initializer=_start_worker,
                                                     initargs=(initializer, initargs))
    finished = False
    try:
        yield from (pool.imap if ordered else pool.imap_unordered)(fn, items, chunksize)
        finished = True
    finally:
        (pool.close if finished else pool.terminate)()
        pool.join()
