"""How long `facex-core list` takes with every plugin of the repo installed (target: < 0.3 s).

Runs the command N times in fresh interpreters and prints the median and worst wall time, next to
a bare `python -c pass` start-up measured in the same run as the floor. Installed users run with
cached bytecode; an environment with ``PYTHONDONTWRITEBYTECODE=1`` recompiles every module on each
run, so the script reports that setting (unset it, as users have it, for the figure that counts).
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time


def timed(cmd: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        out.append(time.perf_counter() - t0)
    return out


def main(runs: int = 10) -> None:
    bare = timed([sys.executable, "-c", "pass"], runs)
    lst = timed([sys.executable, "-m", "facex_core", "list"], runs)
    rows = subprocess.run([sys.executable, "-m", "facex_core", "list", "--json"], check=True,
                          capture_output=True, text=True).stdout.count('"kind"')
    cached = "off (PYTHONDONTWRITEBYTECODE is set)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "on"
    print(f"components listed: {rows}; bytecode caching {cached}")
    print(f"python start-up   median {statistics.median(bare) * 1000:6.1f} ms   max {max(bare) * 1000:6.1f} ms")
    print(f"facex-core list   median {statistics.median(lst) * 1000:6.1f} ms   max {max(lst) * 1000:6.1f} ms"
          f"   (target < 300 ms; {statistics.median(lst) / statistics.median(bare):.1f}x bare start-up)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
