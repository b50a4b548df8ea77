"""The progress bar users see on long work: percentage, counts, elapsed time, ETA and rate; plain lines
off a terminal; silent with FACEX_NO_PROGRESS=1."""
import io
import re

from facex_core import Progress


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_bar_shows_percentage_counts_elapsed_eta_and_rate(monkeypatch):
    monkeypatch.delenv("FACEX_NO_PROGRESS", raising=False)
    clock = FakeClock()
    monkeypatch.setattr("facex_core.runtime.progress.time.perf_counter", clock)
    out = io.StringIO()
    bar = Progress(100, desc="train", unit="step", stream=out, log_interval=0.0)
    clock.now += 20.0  # 25 steps in 20 s: 1.25 step/s, 75 left = 60 s
    bar.update(25, postfix="loss 1.0")
    line = out.getvalue().splitlines()[-1]
    assert line == "train  25% |█████               | 25/100 [00:20<01:00, 1.2 step/s] loss 1.0"
    assert bar.eta() == 60.0
    clock.now += 3700.0  # hours appear when needed
    bar.update(75)
    assert re.search(r"100/100 \[1:02:00<00:00, ", out.getvalue().splitlines()[-1])


def test_off_a_terminal_lines_come_at_most_every_log_interval(monkeypatch):
    monkeypatch.delenv("FACEX_NO_PROGRESS", raising=False)
    clock = FakeClock()
    monkeypatch.setattr("facex_core.runtime.progress.time.perf_counter", clock)
    out = io.StringIO()
    bar = Progress(None, desc="extract", stream=out, log_interval=10.0)
    for _ in range(5):
        clock.now += 3.0
        bar.update()
    assert "\r" not in out.getvalue()
    # the first update at once, then 10 s later (the updates at 6, 9 and 12 s stay silent)
    assert [line.split(" [")[0] for line in out.getvalue().splitlines()] == ["extract 1", "extract 5"]
    bar.close()
    assert out.getvalue().splitlines()[-1].startswith("extract 5 [")


def test_facex_no_progress_silences_the_bar(monkeypatch):
    monkeypatch.setenv("FACEX_NO_PROGRESS", "1")
    out = io.StringIO()
    with Progress(3, stream=out, log_interval=0.0) as bar:
        bar.update(3)
    assert out.getvalue() == ""
