"""The training engine: checkpoints, bit-exact resume, logging; run on a tiny real-format data set."""
import cv2
import numpy as np
import pytest

import facex_core
import torch

from facex_core.data.datasets import ImageLoadError, load_image, read_train_list
from facex_core.engine.experiment import Experiment
from facex_core.engine.trainer import load_checkpoint

CONFIG = """
[experiment]
name = "t"
output_dir = "{out}"
seed = 3

[data]
root = "{data}/images"
train_list = "{data}/list.txt"
num_workers = {workers}

[backbone]
name = "tiny"
embedding_size = 32
input_size = [32, 32]

[head]
name = "margin"

[training]
name = "plain"

[training.loop]
epochs = 2
batch_size = 4
checkpoint_every = 2
log_every = 1
max_steps = {max_steps}

[training.schedule]
milestones = [1]
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    lines = []
    for ident in range(4):
        (root / "images" / f"id{ident}").mkdir(parents=True)
        base = rng.integers(0, 255, (112, 112, 3), dtype=np.uint8)
        for k in range(3):
            img = np.clip(base + rng.integers(-20, 20, base.shape), 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / "images" / f"id{ident}" / f"{k}.jpg"), img)
            lines.append(f"id{ident}/{k}.jpg {ident}")
    (root / "list.txt").write_text("\n".join(lines) + "\n")
    return root


def experiment(tmp_path, data_dir, out, max_steps=0, workers=0):
    path = tmp_path / f"{out}.toml"
    path.write_text(CONFIG.format(out=tmp_path / out, data=data_dir, max_steps=max_steps, workers=workers))
    return Experiment.from_file(path)


def final_weights(exp):
    return load_checkpoint(exp.output_dir / "checkpoints" / "last.pt")["model"]


def test_resume_after_interruption_gives_the_same_weights(tmp_path, data_dir):
    full = experiment(tmp_path, data_dir, "full")
    res = full.build_training_mode().run(full)
    assert res.finished and res.global_step == 6 and res.epochs_done == 2

    part = experiment(tmp_path, data_dir, "part", max_steps=4)  # stops mid-epoch 2 (3 steps/epoch)
    res = part.build_training_mode().run(part)
    assert not res.finished and res.global_step == 4
    resumed = experiment(tmp_path, data_dir, "part")
    res = resumed.build_training_mode().run(resumed, resume=True)
    assert res.finished and res.global_step == 6

    a, b = final_weights(full), final_weights(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # the schedule decayed at the milestone (epoch 1): lr 0.1 -> 0.01
    ckpt = load_checkpoint(full.output_dir / "checkpoints" / "last.pt")
    assert ckpt["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.01)
    assert (full.output_dir / "checkpoints" / "epoch_1.pt").exists()
    assert list(full.output_dir.glob("tb/events.out.tfevents.*"))


def test_worker_processes_do_not_change_the_result(tmp_path, data_dir):
    exps = [experiment(tmp_path, data_dir, f"w{w}", max_steps=2, workers=w) for w in (0, 2)]
    for exp in exps:
        exp.build_training_mode().run(exp)
    a, b = (final_weights(e) for e in exps)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoint_holds_config_and_loads_without_unpickling_code(tmp_path, data_dir):
    exp = experiment(tmp_path, data_dir, "ck", max_steps=1)
    exp.build_training_mode().run(exp)
    ckpt = load_checkpoint(exp.output_dir / "checkpoints" / "last.pt")  # weights_only=True inside
    assert ckpt["config"]["backbone"]["name"] == "tiny"
    assert ckpt["components"]["head"]["distribution"] == "facex-doubles"
    assert not list((exp.output_dir / "checkpoints").glob(".*tmp*")), "temporary files left behind"


def test_resume_without_checkpoint_is_a_clear_error(tmp_path, data_dir):
    exp = experiment(tmp_path, data_dir, "none")
    with pytest.raises(facex_core.ConfigError, match="no checkpoint"):
        exp.build_training_mode().run(exp, resume=True)


def test_corrupt_image_is_reported_by_path(tmp_path, data_dir):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg at all")
    with pytest.raises(ImageLoadError, match="broken.jpg"):
        load_image(bad)
    with pytest.raises(ImageLoadError, match="missing.jpg"):
        load_image(tmp_path / "missing.jpg")


def test_grey_and_rgba_images_become_bgr(tmp_path):
    cv2.imwrite(str(tmp_path / "g.png"), np.full((5, 6), 7, np.uint8))
    cv2.imwrite(str(tmp_path / "a.png"), np.full((5, 6, 4), 9, np.uint8))
    assert load_image(tmp_path / "g.png").shape == (5, 6, 3)
    assert load_image(tmp_path / "a.png").shape == (5, 6, 3)


def test_train_list_errors_name_file_and_line(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("a/1.jpg 0\na/2.jpg x\n")
    with pytest.raises(ValueError, match=r"list.txt:2: label 'x'"):
        read_train_list(path)


def test_data_list_writes_facexzoo_train_list(tmp_path):
    for ident, n in (("alice", 3), ("bob", 3), ("carol", 4)):
        (tmp_path / "imgs" / ident).mkdir(parents=True)
        for k in range(n):
            cv2.imwrite(str(tmp_path / "imgs" / ident / f"{k}.jpg"), np.zeros((8, 8, 3), np.uint8))
    assert facex_core.main(["data", "list", str(tmp_path / "imgs"), str(tmp_path / "list.txt")]) == 0
    lines = (tmp_path / "list.txt").read_text().splitlines()
    assert len(lines) == 10 and lines[0] == "alice/0.jpg 0" and lines[3] == "bob/0.jpg 1" and lines[-1] == "carol/3.jpg 2"
    assert read_train_list(tmp_path / "list.txt") == [tuple(line.rsplit(" ", 1)[:1]) + (int(line[-1]),) for line in lines]
