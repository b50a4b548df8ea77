"""What a run leaves for its user: train.log and config.toml in the run folder; evaluation tables, curves
as PNG and CSV, and the metrics in the run's tensorboard; two runs' last.pt side by side under distinct
labels. On the core's test doubles (backbone ``tiny``, head ``margin``, protocol ``pairs``, data ``squares``)."""
from __future__ import annotations

import csv
import struct
import warnings
from pathlib import Path

import pytest
import torch

import facex_core
from facex_core import main
from facex_core.engine import trainer as trainer_module

CONFIG = """
[experiment]
name = "{name}"
output_dir = "{out}"
seed = 1

[[prepare]]
name = "squares"
output = "{data}"

[data]
root = "{data}/images"
train_list = "{data}/train_list.txt"
num_workers = 0

[backbone]
name = "tiny"

[head]
name = "margin"

[training]
name = "plain"

[training.loop]
epochs = 1
batch_size = 4
log_every = 1

[[evaluation.protocols]]
name = "pairs"
pairs_file = "{data}/pairs.txt"
image_root = "{data}/images"
"""


def write_config(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(CONFIG.format(name=name, out=(tmp_path / "runs" / name).as_posix(),
                                  data=(tmp_path / "data").as_posix()))
    return path


def scalars(tb: Path) -> dict[tuple[str, int], float]:
    """``(tag, step) -> value`` of every scalar in a tensorboard folder (TFRecord framing read by hand)."""
    from tensorboardX.proto.event_pb2 import Event

    found = {}
    for events in tb.glob("events.out.tfevents.*"):
        data, pos = events.read_bytes(), 0
        while pos < len(data):
            (size,) = struct.unpack("<Q", data[pos:pos + 8])
            event = Event.FromString(data[pos + 12:pos + 12 + size])
            pos += 12 + size + 4
            for value in event.summary.value:
                found[(value.tag, event.step)] = value.simple_value
    return found


def test_a_run_folder_holds_train_log_and_the_resolved_config(tmp_path, monkeypatch):
    config = write_config(tmp_path, "a")
    real = trainer_module.Trainer._set_lr

    def warns(self):  # a library warning in the middle of training
        if self.global_step == 1:
            warnings.warn("something a user should see", UserWarning)
        return real(self)

    monkeypatch.setattr(trainer_module.Trainer, "_set_lr", warns)
    with pytest.warns(UserWarning, match="something a user should see"):  # still shown as usual
        assert main(["train", str(config)]) == 0
    run = tmp_path / "runs" / "a"
    log = (run / "train.log").read_text(encoding="utf-8")
    assert "starting at step 0 of 3" in log and "step 3/3 epoch 1/1 loss " in log and " lr " in log
    assert "UserWarning: something a user should see" in log and "finished at step 3" in log
    assert "checkpoint " in log and "last.pt" in log
    again = facex_core.Experiment.from_file(run / "config.toml")
    assert again.resolved() == facex_core.Experiment.from_file(config).resolved()
    assert main(["train", str(config), "--resume", "--set", "training.loop.log_every=2"]) == 0
    log = (run / "train.log").read_text(encoding="utf-8")  # appended, with the changed setting
    assert log.count("starting at step 0") == 1 and "resuming with changed settings: training.loop.log_every" in log
    assert "log_every = 2" in (run / "config.toml").read_text(encoding="utf-8")


def test_a_head_logs_a_scalar_by_keeping_it_in_a_0_dim_buffer(tmp_path, monkeypatch):
    real = facex_core.Experiment.build_head

    def with_buffer(self):
        head = real(self)
        head.register_buffer("temperature", torch.tensor(0.25))
        return head

    monkeypatch.setattr(facex_core.Experiment, "build_head", with_buffer)
    assert main(["train", str(write_config(tmp_path, "a"))]) == 0
    assert scalars(tmp_path / "runs" / "a" / "tb")[("train/head/temperature", 3)] == pytest.approx(0.25)
    assert "head/temperature 0.25" in (tmp_path / "runs" / "a" / "train.log").read_text(encoding="utf-8")


def test_two_runs_evaluate_side_by_side_with_distinct_labels(tmp_path, monkeypatch, capsys):
    for name in ("a", "b"):
        assert main(["train", str(write_config(tmp_path, name))]) == 0
    runs = tmp_path / "runs"
    before = {name: sorted(p.name for p in (runs / name).iterdir()) for name in ("a", "b")}
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    capsys.readouterr()
    a, b = runs / "a" / "checkpoints" / "last.pt", runs / "b" / "checkpoints" / "last.pt"
    assert main(["evaluate", str(a), "--checkpoint", str(a), "--checkpoint", str(b)]) == 0
    out = capsys.readouterr().out
    assert "| a |" in out and "| b |" in out and "| last |" not in out
    folder = work / "eval-a+b" / "eval"
    for name in ("results.md", "results.csv", "results.json", "pairs_roc.png", "pairs_roc.csv"):
        assert (folder / name).is_file(), name
    with open(folder / "pairs_roc.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][0] == "model" and {r[0] for r in rows[1:]} == {"a", "b"}
    assert all(0 <= float(x) <= 1 and 0 <= float(y) <= 1 for _, x, y in rows[1:])
    for name in ("a", "b"):  # each run's metrics in its own tensorboard, at its checkpoint's step (3)
        assert sorted(p.name for p in (runs / name).iterdir()) == before[name]  # no results written into a run
        logged = scalars(runs / name / "tb")
        assert ("eval/pairs/accuracy", 3) in logged
    # explicit labels; the same label twice, or two unlabelled checkpoints of one run, are told apart or refused
    assert main(["evaluate", str(a), "--checkpoint", f"first={a}", "--checkpoint", f"second={b}"]) == 0
    assert (work / "eval-first+second" / "eval" / "results.md").is_file()
    epoch = runs / "a" / "checkpoints" / "epoch_1.pt"
    assert main(["evaluate", str(a), "--checkpoint", str(a), "--checkpoint", str(epoch)]) == 0
    assert "| a:last |" in capsys.readouterr().out
    assert main(["evaluate", str(a), "--checkpoint", f"x={a}", "--checkpoint", f"x={b}"]) == 2
    assert "labelled 'x'" in capsys.readouterr().err


def test_a_config_with_another_runs_checkpoint_keeps_its_own_results(tmp_path, capsys):
    config_a, config_b = write_config(tmp_path, "a"), write_config(tmp_path, "b")
    for config in (config_a, config_b):
        assert main(["train", str(config)]) == 0
    runs = tmp_path / "runs"
    assert main(["evaluate", str(config_a)]) == 0
    own = (runs / "a" / "eval" / "results.md").read_text()
    assert "| a |" in own
    assert main(["evaluate", str(config_a), "--checkpoint", "last", "--checkpoint",
                 str(runs / "b" / "checkpoints" / "last.pt")]) == 0
    assert (runs / "a" / "eval" / "results.md").read_text() == own
    both = (runs / "a" / "eval-a+b" / "results.md").read_text()
    assert "| a |" in both and "| b |" in both
