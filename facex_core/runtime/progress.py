"""A dependency-free progress bar with rate and ETA for long loops (training, extraction, packing)."""
from __future__ import annotations

import os
import sys
import time
from typing import TextIO


def _fmt_time(seconds: float) -> str:
    h, rem = divmod(max(0, int(seconds)), 3600)
    return f"{h:d}:{rem // 60:02d}:{rem % 60:02d}" if h else f"{rem // 60:02d}:{rem % 60:02d}"


class Progress:
    """Prints ``desc  42% |█████     | 420/1000 [00:21<00:29, 19.8 it/s] postfix`` to stderr (plain lines
    every ``log_interval`` seconds off a terminal); ``FACEX_NO_PROGRESS=1`` silences it."""

    def __init__(self, total: int | None, desc: str = "", unit: str = "it", initial: int = 0,
                 stream: TextIO | None = None, interval: float = 0.2, log_interval: float = 10.0) -> None:
        self.total, self.desc, self.unit, self.n, self._initial = total, desc, unit, initial, initial
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
        """Seconds left at the current rate (``None`` without a total or a rate)."""
        rate = self.rate()
        return (self.total - self.n) / rate if self.total is not None and rate > 0 else None

    def render(self) -> str:
        if self.total:
            frac = min(1.0, self.n / self.total)
            head = f"{self.desc} {frac * 100:3.0f}% |{'█' * int(frac * 20):<20}| {self.n}/{self.total}"
        else:
            head = f"{self.desc} {self.n}"
        eta = self.eta()
        return (f"{head} [{_fmt_time(time.perf_counter() - self._start)}<{_fmt_time(eta) if eta is not None else '?'}"
                f", {self.rate():.1f} {self.unit}/s] {self.postfix}").rstrip()

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
        self.stream.write(("\r" + self.render() + ("\n" if final else "")) if self._tty else self.render() + "\n")
        self.stream.flush()

    def close(self) -> None:
        self._draw(final=True)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
