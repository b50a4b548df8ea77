"""``data pack`` and training from RecordIO: same run as the train list, nothing lost when interrupted, one
clear error for a broken ``.rec``."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import torch

import facex_core
from facex_core.testing import assert_light_module
from facex_data_recordio import pack as packing

CONFIG = """
[experiment]
name = "{name}"
output_dir = "{out}/{name}"
[data]
root = "{out}/jpg"
train_list = "{out}/list.txt"
num_workers = {workers}
[backbone]
name = "mobilefacenet"
embedding_size = 16
input_size = [32, 32]
[head]
name = "arcface"
[training]
name = "conventional"
[training.loop]
epochs = 2
batch_size = 4
log_every = 1
[training.optimizer]
lr = 0.05
"""


@pytest.fixture
def jpgs(tmp_path):
    """3 identities × 4 JPEGs (packing keeps JPEG bytes as they are), their train list and a config writer."""
    rng = np.random.default_rng(0)
    lines = []
    for ident in range(3):
        (tmp_path / "jpg" / str(ident)).mkdir(parents=True)
        for k in range(4):
            cv2.imwrite(str(tmp_path / "jpg" / str(ident) / f"{k}.jpg"), rng.integers(0, 255, (32, 32, 3), np.uint8))
            lines.append(f"{ident}/{k}.jpg {ident}")
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    return tmp_path


def write_config(tmp_path, name, workers=0):
    path = tmp_path / f"{name}.toml"
    path.write_text(CONFIG.format(out=tmp_path, name=name, workers=workers))
    return path


def test_registration_is_light():
    assert_light_module("facex_data_recordio.plugin")
    assert_light_module("facex_data_recordio")


@pytest.mark.parametrize("workers", [0, 2])
def test_training_from_records_equals_training_from_the_train_list(jpgs, workers):
    assert facex_core.main(["data", "pack", str(jpgs / "jpg"), str(jpgs / "rec"), "--train-list",
                            str(jpgs / "list.txt"), "--workers", "0"]) == 0
    assert facex_core.main(["train", str(write_config(jpgs, "listed", workers))]) == 0
    assert facex_core.main(["train", str(write_config(jpgs, "packed", workers)), "--set", "data.format=recordio",
                            "--set", f"data.root={jpgs / 'rec'}"]) == 0
    a, b = (facex_core.load_checkpoint(jpgs / name / "checkpoints" / "last.pt")["model"] for name in ("listed", "packed"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_truncated_record_file_is_one_error_naming_it(jpgs, capsys):
    facex_core.main(["data", "pack", str(jpgs / "jpg"), str(jpgs / "rec"), "--workers", "0"])
    rec = jpgs / "rec" / "train.rec"
    rec.write_bytes(rec.read_bytes()[:300])
    capsys.readouterr()
    assert facex_core.main(["train", str(write_config(jpgs, "run")), "--set", "data.format=recordio",
                            "--set", f"data.root={jpgs / 'rec'}"]) == 2
    err = capsys.readouterr().err
    assert "train.rec" in err and "truncated" in err and "Traceback" not in err


def test_packing_a_list_that_leaves_its_folder_is_refused(tmp_path, capsys):
    (tmp_path / "escape.txt").write_text("../../etc/passwd 0\n")
    assert facex_core.main(["data", "pack", str(tmp_path / "escape.txt"), str(tmp_path / "p2")]) == 2
    assert "leaves the image folder" in capsys.readouterr().err
    assert not (tmp_path / "p2" / "train.rec").exists()


def test_data_pack_over_an_existing_pack_keeps_it_when_interrupted(jpgs, monkeypatch):
    out = jpgs / "rec"
    packing.pack(jpgs / "jpg", out)
    before = {name: (out / name).read_bytes() for name in ("train.rec", "train.idx", "property")}
    calls = {"n": 0}
    real = packing.pack_record

    def dies_half_way(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(packing, "pack_record", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        packing.pack(jpgs / "jpg", out, shuffle=True)
    assert {name: (out / name).read_bytes() for name in before} == before
    assert not list(out.glob(".*.tmp-*"))


def test_data_pack_with_workers_stops_at_once_on_ctrl_c(tmp_path):
    src = tmp_path / "src"
    rng = np.random.default_rng(0)
    for ident in range(20):
        (src / f"id{ident}").mkdir(parents=True)
        for k in range(30):
            cv2.imwrite(str(src / f"id{ident}" / f"{k}.png"), rng.integers(0, 255, (256, 256, 3), dtype=np.uint8))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "facex_core", "data", "pack", str(src), str(out), "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "FACEX_NO_PROGRESS": "1"})
    deadline = time.time() + 60
    while not list(out.glob(".train.rec.tmp-*")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)  # workers are reading images now
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group, workers included
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("data pack hung after Ctrl-C")
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert not (out / "train.rec").exists() and not list(out.glob(".*.tmp-*"))
