"""A dependency-free progress bar with rate and ETA for long loops (training, extraction, packing)."""
from __future__ import annotations

import os
import sys
import time
from typing import Iterable, Iterator, TextIO, TypeVar

T = TypeVar("T")


def _fmt_time(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """Prints ``desc  42% |█████     | 420/1000 [00:21<00:29, 19.8 it/s] postfix`` to stderr.

    Redraws at most every ``interval`` seconds; when stderr is not a terminal (CI logs) it prints a
    plain line at most every ``log_interval`` seconds instead of carriage-return updates.
    Set ``FACEX_NO_PROGRESS=1`` to silence it.
    """

    def __init__(self, total: int | None, desc: str = "", unit: str = "it", initial: int = 0,
                 stream: TextIO | None = None, interval: float = 0.2, log_interval: float = 10.0) -> None:
        self.total = total
        self.desc = desc
        self.unit = unit
        self.n = initial
        self._initial = initial
        self.stream = stream or sys.stderr
        self.postfix = ""
        self.disabled = os.environ.get("FACEX_NO_PROGRESS", "") not in ("", "0")
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._interval = interval if self._tty else log_interval
        self._start = time.perf_counter()
        self._last = 0.0

    def rate(self) -> float:
        elapsed = time.perf_counter() - self._start
        return (self.n - self._initial) / elapsed if elapsed > 0 else 0.0

    def eta(self) -> float | None:
        r = self.rate()
        if self.total is None or r <= 0:
            return None
        return (self.total - self.n) / r

    def render(self) -> str:
        elapsed = time.perf_counter() - self._start
        rate = self.rate()
        eta = self.eta()
        if self.total:
            frac = min(1.0, self.n / self.total)
            width = 20
            filled = int(frac * width)
            bar = "█" * filled + " " * (width - filled)
            head = f"{self.desc} {frac * 100:3.0f}% |{bar}| {self.n}/{self.total}"
        else:
            head = f"{self.desc} {self.n}"
        eta_s = _fmt_time(eta) if eta is not None else "?"
        text = f"{head} [{_fmt_time(elapsed)}<{eta_s}, {rate:.1f} {self.unit}/s]"
        return f"{text} {self.postfix}".rstrip()

    def update(self, n: int = 1, postfix: str | None = None) -> None:
        self.n += n
        if postfix is not None:
            self.postfix = postfix
        now = time.perf_counter()
        if now - self._last >= self._interval or (self.total is not None and self.n >= self.total):
            self._last = now
            self._draw()

    def _draw(self, final: bool = False) -> None:
        if self.disabled:
            return
        if self._tty:
            self.stream.write("\r" + self.render() + ("\n" if final else ""))
        else:
            self.stream.write(self.render() + "\n")
        self.stream.flush()

    def close(self) -> None:
        self._draw(final=True)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def track(items: Iterable[T], total: int | None = None, desc: str = "", unit: str = "it") -> Iterator[T]:
    """Iterate with a progress bar."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with Progress(total, desc=desc, unit=unit) as bar:
        for item in items:
            yield item
            bar.update()
