"""The conventional mode trains backbone + head and adds the head's extra loss terms."""
import cv2
import numpy as np
import torch

import facex_core
from facex_core import Experiment, load_checkpoint
from facex_core.testing import assert_light_module

CONFIG = """
[experiment]
output_dir = "{out}/run"
[data]
root = "{out}/images"
train_list = "{out}/list.txt"
num_workers = 0
[backbone]
name = "mobilefacenet"
embedding_size = 16
input_size = [32, 32]
[head]
name = "{head}"
[training]
name = "conventional"
[training.loop]
epochs = 2
batch_size = 4
log_every = 1
[training.optimizer]
lr = 0.05
"""


def write_data(root):
    rng = np.random.default_rng(0)
    lines = []
    for ident in range(3):
        (root / "images" / str(ident)).mkdir(parents=True)
        for k in range(4):
            cv2.imwrite(str(root / "images" / str(ident) / f"{k}.png"), rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
            lines.append(f"{ident}/{k}.png {ident}")
    (root / "list.txt").write_text("\n".join(lines) + "\n")


def test_registration_is_light_and_defaults_follow_facexzoo_train_sh():
    assert_light_module("facex_mode_conventional.plugin")
    mode = facex_core.build("training_mode", "conventional")
    assert mode.config.loop.epochs == 18 and mode.config.schedule.milestones == (10, 13, 16)
    assert mode.config.optimizer.lr == 0.1 and mode.config.optimizer.weight_decay == 1e-4


def test_training_changes_weights_and_writes_checkpoints(tmp_path):
    write_data(tmp_path)
    path = tmp_path / "exp.toml"
    path.write_text(CONFIG.format(out=tmp_path, head="arcface"))
    exp = Experiment.from_file(path)
    exp.seed_everything()
    before = exp.build_backbone().state_dict()
    result = exp.build_training_mode().run(exp)
    assert result.finished and result.global_step == 6 and result.epochs_done == 2
    after = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["model"]
    changed = [k for k, v in before.items() if v.is_floating_point() and not torch.equal(v, after["backbone." + k])]
    assert changed, "no backbone weight changed"
    assert after["head.classifier.weight"].shape == (3, 16)


def test_extra_head_losses_are_trained(tmp_path):
    write_data(tmp_path)
    path = tmp_path / "exp.toml"
    path.write_text(CONFIG.format(out=tmp_path, head="magface"))
    exp = Experiment.from_file(path)
    result = exp.build_training_mode().run(exp)
    assert result.finished
    from tensorboardX.event_file_writer import EventFileWriter  # noqa: F401  (tensorboardX present)
    events = list((tmp_path / "run" / "tb").glob("events.*"))
    assert events and b"train/magface_g" in events[0].read_bytes()
