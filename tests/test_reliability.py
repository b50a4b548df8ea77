"""Nothing lost, nothing hangs, one clear error: what the core promises when inputs, settings or runs go
wrong (the fault campaign's defects, each with the test that failed before its fix).

Runs on the core's test doubles (tests/doubles/fakeplug_core.py): backbone ``tiny``, head ``margin``,
mode ``plain``, protocol ``pairs`` and the ``squares`` data maker.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from fakeplug_stack import write_stack

import facex_core
from facex_core import main

CONFIG = """
[experiment]
name = "{name}"
output_dir = "{out}"
seed = 1

[[prepare]]
name = "squares"
output = "{data}"
identities = 4
images_per_identity = 3

[data]
root = "{data}/images"
train_list = "{data}/train_list.txt"
num_workers = {workers}

[backbone]
name = "tiny"

[head]
name = "margin"
{head_extra}

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

[[evaluation.protocols]]
name = "pairs"
pairs_file = "{data}/pairs.txt"
image_root = "{data}/images"
"""


def write_config(tmp_path: Path, name: str = "run", max_steps: int = 0, workers: int = 0, head_extra: str = "",
                 data: Path | None = None) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(CONFIG.format(name=name, out=tmp_path / name, data=data or tmp_path / "data",
                                  max_steps=max_steps, workers=workers, head_extra=head_extra))
    return path


def weights(folder: Path) -> dict:
    return facex_core.load_checkpoint(folder / "checkpoints" / "last.pt")["model"]


# -- lost data and hangs ---------------------------------------------------------------------------
def test_training_over_an_earlier_run_is_refused_unless_resumed_or_overwritten(tmp_path, capsys):
    config = write_config(tmp_path)
    assert main(["train", str(config)]) == 0
    first = weights(tmp_path / "run")
    assert main(["train", str(config)]) == 2
    err = capsys.readouterr().err
    assert "holds the checkpoints of an earlier run" in err and "--resume" in err and "--overwrite" in err
    assert all(torch.equal(first[k], v) for k, v in weights(tmp_path / "run").items())  # untouched
    assert main(["train", str(config), "--overwrite", "--set", "experiment.seed=5"]) == 0
    assert not all(torch.equal(first[k], v) for k, v in weights(tmp_path / "run").items())


def test_a_run_folder_in_use_is_refused_naming_the_holder(tmp_path, capsys):
    config = write_config(tmp_path)
    with facex_core.FolderLock(tmp_path / "run", "training run"):
        assert main(["train", str(config)]) == 2
    err = capsys.readouterr().err
    assert "in use by" in err and f"pid {os.getpid()}" in err
    assert main(["train", str(config)]) == 0  # released


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_with_partial_fc_is_bit_exact_mid_epoch(tmp_path, workers):
    partial = "[head.classifier]\nsample_rate = 0.5"
    full = write_config(tmp_path, "full", workers=workers, head_extra=partial)
    assert main(["train", str(full)]) == 0
    part = write_config(tmp_path, "part", max_steps=4, workers=workers, head_extra=partial)  # mid-epoch 2 of 3 steps
    assert main(["train", str(part)]) == 0
    assert main(["train", str(write_config(tmp_path, "part", workers=workers, head_extra=partial)), "--resume"]) == 0
    a, b = weights(tmp_path / "full"), weights(tmp_path / "part")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- wrong results reported as success ----------------------------------------------------------------
def test_replaced_images_are_not_served_from_the_feature_cache(tmp_path):
    config = write_config(tmp_path)
    assert main(["evaluate", str(config), "--checkpoint", "none"]) == 0
    features = tmp_path / "run" / "features"
    first = {p.name for p in features.iterdir()}
    for image in (tmp_path / "data" / "images").rglob("*.png"):
        cv2.imwrite(str(image), 255 - cv2.imread(str(image)))
    assert main(["evaluate", str(config), "--checkpoint", "none"]) == 0
    assert {p.name for p in features.iterdir()} - first, "the second evaluation reused the old features"


def test_resume_refuses_model_changes_and_reports_safe_ones(tmp_path, capsys):
    part = write_config(tmp_path, "part", max_steps=2)
    assert main(["train", str(part)]) == 0
    capsys.readouterr()
    assert main(["train", str(part), "--resume", "--set", "head.margin=0.3"]) == 2
    assert "head.margin: 0.2 -> 0.3" in capsys.readouterr().err
    assert main(["train", str(part), "--resume", "--set", "training.loop.batch_size=2"]) == 2
    assert main(["train", str(part), "--resume", "--set", "training.loop.max_steps=3",
                 "--set", "training.loop.log_every=2"]) == 0
    assert "resuming with changed settings: training.loop.log_every: 1 -> 2" in capsys.readouterr().err


def test_a_checkpoint_needs_only_its_backbone_plugin(tmp_path, fake_site, monkeypatch, capsys):
    fake_site.add_dist("facex-head-extra", "1.0", {"extra": "fakeplug_extrahead"}, {"fakeplug_extrahead": """
        from facex_core import Component, hookimpl
        from fakeplug_core import MarginConfig
        @hookimpl
        def facex_components():
            return [Component(kind="head", name="extra", summary="a third-party head", config=MarginConfig,
                              factory="fakeplug_core:_margin")]
    """})
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(fake_site.root), os.environ["PYTHONPATH"]]))
    facex_core.testing.reset_registry()
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace('name = "margin"', 'name = "extra"'))
    assert main(["train", str(config), "--set", "training.loop.max_steps=1"]) == 0
    ckpt = tmp_path / "run" / "checkpoints" / "last.pt"
    monkeypatch.setenv("FACEX_DISABLE_PLUGINS", os.environ["FACEX_DISABLE_PLUGINS"] + ",facex-head-extra")
    facex_core.testing.reset_registry()  # the head's plugin is uninstalled
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", str(ckpt)]) == 0
    assert main(["export", "onnx", str(ckpt), str(tmp_path / "m.onnx")]) in (0,)
    assert not list(tmp_path.glob("*.onnx.data"))  # one self-contained file


def test_list_strict_imports_every_implementation_and_checks_docs(fake_site, capsys):
    fake_site.add_dist("facex-head-lazyfail", "1.0", {"lazy": "fakeplug_lazy"}, {"fakeplug_lazy": """
        import attrs
        from facex_core import Component, hookimpl
        @attrs.frozen
        class Undocumented:
            size: int = 3
        @hookimpl
        def facex_components():
            return [Component(kind="head", name="lazy", summary="x", config=Undocumented,
                              factory="fakeplug_no_such_module:Head")]
    """})
    facex_core.testing.reset_registry()
    assert main(["list", "--kind", "head"]) == 0
    assert main(["list", "--kind", "head", "--strict"]) == 1
    out = capsys.readouterr().out
    assert "cannot import fakeplug_no_such_module:Head" in out and "broken" in out


# -- one clear error --------------------------------------------------------------------------------
def _bad_inputs(tmp_path: Path) -> list[tuple[list[str], str]]:
    """(command line, the culprit its one-line error must name) for every class of bad input."""
    config = write_config(tmp_path)
    main(["train", str(config), "--set", "training.loop.max_steps=1"])
    good_ckpt = tmp_path / "run" / "checkpoints" / "last.pt"
    (tmp_path / "binary.toml").write_bytes(bytes(range(256)))
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    (tmp_path / "truncated.pt").write_bytes(good_ckpt.read_bytes()[:2000])
    (tmp_path / "escape.txt").write_text("../../etc/passwd 0\n")
    (tmp_path / "badlabel.txt").write_text("a.jpg zero\n")
    (tmp_path / "gaps.txt").write_text("id0/0.png 0\nid1/0.png 100000000\n")
    (tmp_path / "pairs_bad.txt").write_text("2 1\nA 1 2\n")
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o500)
    data = tmp_path / "data"
    nan = ["--set", "training.optimizer.lr=nan"]
    return [
        (["train", str(tmp_path)], "is a folder"),
        (["train", str(tmp_path / "binary.toml")], "binary.toml: not a text file"),
        (["train", str(tmp_path / "missing.toml")], "missing.toml: config file not found"),
        (["evaluate", str(tmp_path / "empty.pt")], "empty.pt: not a readable PyTorch checkpoint"),
        (["evaluate", str(tmp_path / "text.pt")], "text.pt: not a readable PyTorch checkpoint"),
        (["evaluate", str(tmp_path / "truncated.pt")], "truncated.pt"),
        (["export", "onnx", str(tmp_path / "text.pt"), str(tmp_path / "x.onnx")], "text.pt"),
        (["train", str(config), *nan], "training.optimizer.lr: must be a finite number"),
        (["train", str(config), "--set", "training.loop.epochs=0"], "training.loop.epochs: must be >= 1"),
        (["train", str(config), "--set", "training.schedule.milestones=[5, 1]"], "milestones: must be increasing"),
        (["train", str(config), "--set", "training.schedule.warmup_epochs=-1"], "warmup_epochs: must be >= 0"),
        (["train", str(config), "--set", "training.loop.clip_grad_norm=-1"], "clip_grad_norm: must be >= 0"),
        (["train", str(config), "--set", "training.optimizer.momentum=5"], "momentum: must be < 1"),
        (["train", str(config), "--set", "training.schedule.gamma=-1"], "gamma: must be > 0"),
        (["train", str(config), "--set", "training.loop.max_steps=-5"], "max_steps: must be >= 0"),
        (["train", str(config), "--set", "training.loop.batch_size=0"], "batch_size: must be >= 1"),
        (["train", str(config), "--set", "training.loop.checkpoint_every=0"], "checkpoint_every: must be >= 1"),
        (["train", str(config), "--set", "training.loop.log_every=0"], "log_every: must be >= 1"),
        (["train", str(config), "--set", "data.num_workers=-1"], "num_workers: must be >= 0"),
        (["train", str(config), "--set", "experiment.threads=-1"], "threads: must be >= 0"),
        (["train", str(config), "--set", "head.margin=inf"], "head.margin: must be a finite number"),
        (["train", str(config), "--set", "training.loop.amp=fp8"], "amp: must be one of none, bf16, fp16"),
        (["train", str(config), "--set", "training.loop=3"], "training.loop: expected a table"),
        (["train", str(config), "--set", "training.loop.epochs=x"], "(with --set training.loop.epochs=x)"),
        (["train", str(config), "--set", f"data.train_list={tmp_path / 'escape.txt'}", "--overwrite"],
         "leaves the image folder"),
        (["train", str(config), "--set", f"data.train_list={tmp_path / 'badlabel.txt'}", "--overwrite"],
         "badlabel.txt:1: label 'zero' is not an integer"),
        (["train", str(config), "--set", f"data.train_list={tmp_path / 'gaps.txt'}", "--overwrite"],
         "labels run up to 100000000"),
        (["train", str(config), "--set", f"data.root={data / 'none'}", "--overwrite"], "none/"),
        (["train", str(config), "--set", f"experiment.output_dir={readonly / 'run'}"], "readonly"),
        (["evaluate", str(config), "--set", "evaluation.protocols=[]", "--checkpoint", "none"],
         "no [[evaluation.protocols]]"),
        (["list", "--kind", "nosuch"], "--kind 'nosuch': no such kind"),
        (["data", "inspect", str(tmp_path / "missing-list.txt")], "missing-list.txt"),
        (["data", "list", str(tmp_path / "no-folder"), str(tmp_path / "l.txt")], "no-folder: image folder not found"),
    ]


def test_bad_inputs_give_one_line_naming_the_culprit_and_exit_2(tmp_path, capsys):
    if os.geteuid() == 0:  # root writes into read-only folders: drop that case only
        cases = [c for c in _bad_inputs(tmp_path) if c[1] != "readonly"]
    else:
        cases = _bad_inputs(tmp_path)
    capsys.readouterr()
    failures = []
    for argv, culprit in cases:
        code = main(argv)
        err = capsys.readouterr().err
        if code != 2 or culprit not in err or "Traceback" in err or len(err.strip().splitlines()) > 3:
            failures.append((argv, code, err.strip()[-400:]))
    assert not failures, "\n".join(map(str, failures))


def test_a_corrupt_training_image_names_the_file_and_the_setting_that_skips_it(tmp_path, capsys):
    config = write_config(tmp_path, workers=2)
    facex_core.build("dataset", "squares", output=str(tmp_path / "data")).prepare()
    (tmp_path / "data" / "images" / "id1" / "1.png").write_bytes(b"\x89PNG broken")
    assert main(["train", str(config)]) == 2
    err = capsys.readouterr().err
    assert "id1/1.png" in err and "data.max_bad_images" in err and len(err.strip().splitlines()) == 1


def test_output_piped_into_head_closes_quietly(tmp_path):
    proc = subprocess.run(f"{sys.executable} -m facex_core describe head margin | head -c 10",
                          shell=True, capture_output=True, text=True, env=os.environ)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


# -- limits and hardening -------------------------------------------------------------------------
def test_evaluating_a_checkpoint_writes_under_the_current_folder(tmp_path, monkeypatch, capsys):
    config = write_config(tmp_path)
    assert main(["train", str(config), "--set", "training.loop.max_steps=1"]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    before = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert main(["evaluate", str(tmp_path / "run" / "checkpoints" / "last.pt")]) == 0
    assert (elsewhere / "eval-run" / "eval" / "results.md").is_file()
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == before  # nothing written into the run
    assert "pairs:" in capsys.readouterr().err  # says which data it reads


def test_a_failed_checkpoint_save_leaves_no_temporary(tmp_path, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError):
        facex_core.save_checkpoint(tmp_path / "last.pt", {"format": "facex-checkpoint"})
    assert list(tmp_path.iterdir()) == []


def test_data_list_refuses_file_names_a_list_cannot_hold(tmp_path, capsys):
    (tmp_path / "src" / "a").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "src" / "a" / "x\ny.png"), np.zeros((4, 4, 3), np.uint8))
    assert main(["data", "list", str(tmp_path / "src"), str(tmp_path / "list.txt")]) == 2
    assert "line break" in capsys.readouterr().err and not (tmp_path / "list.txt").exists()


def test_data_inspect_check_takes_a_root_and_fails_on_unreadable_images(tmp_path, capsys):
    facex_core.build("dataset", "squares", output=str(tmp_path / "data")).prepare()
    listing = tmp_path / "data" / "train_list.txt"
    assert main(["data", "inspect", str(listing), "--check"]) == 1  # paths are relative to data/images
    assert "--root" in capsys.readouterr().err
    assert main(["data", "inspect", str(listing), "--check", "--root", str(tmp_path / "data" / "images")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["unreadable"] == [] and info["images"] == 12


def test_the_end_of_run_summary_never_prints_nan(tmp_path, capsys):
    config = write_config(tmp_path)
    assert main(["train", str(config)]) == 0
    assert main(["train", str(config), "--resume"]) == 0  # already complete: no step logged
    out = capsys.readouterr().out
    assert "nan" not in out and "no step was logged" in out


# -- a plugin's data format (facex_core.DataFormat; the double "stack" in tests/doubles/fakeplug_stack.py) ----
@pytest.fixture
def squares(tmp_path):
    """The squares set (4 identities × 3 images) and the same images as a ``stack`` set in ``stack/``."""
    write_config(tmp_path)
    facex_core.build("dataset", "squares", output=str(tmp_path / "data")).prepare()
    write_stack(tmp_path / "data" / "train_list.txt", tmp_path / "data" / "images", tmp_path / "stack")
    return tmp_path


def stack_overrides(tmp_path, *extra):
    return ["--set", "data.format=stack", "--set", f"data.root={tmp_path / 'stack'}", *extra]


@pytest.mark.parametrize("workers", [0, 2])
def test_training_from_a_plugin_format_equals_training_from_the_train_list(squares, workers):
    listed = write_config(squares, "listed", workers=workers)
    stacked = write_config(squares, "stacked", workers=workers)
    assert main(["train", str(listed)]) == 0
    assert main(["train", str(stacked), *stack_overrides(squares)]) == 0
    a, b = weights(squares / "listed"), weights(squares / "stacked")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_class_count_a_format_declares_sizes_the_head(squares):
    write_stack(squares / "data" / "train_list.txt", squares / "data" / "images", squares / "stack", classes=10)
    exp = facex_core.Experiment.from_file(write_config(squares), ["data.format='stack'",
                                                                 f"data.root='{squares / 'stack'}'"])
    assert exp.num_classes == 10 and exp.head.config.num_classes == 10 and exp.data_exists()
    assert exp.train_dataset((32, 32)).num_classes == 10


def test_an_undecodable_image_of_a_plugin_format_is_skipped_and_logged(squares):
    images = np.load(squares / "stack" / "images.npy")
    images[2] = 0
    np.save(squares / "stack" / "images.npy", images)
    config = write_config(squares)
    assert main(["train", str(config), *stack_overrides(squares, "--set", "data.max_bad_images=3")]) == 0
    assert "images.npy: image 2 is blank" in (squares / "run" / "bad_images.txt").read_text()


def test_data_inspect_recognises_a_plugin_format(squares, capsys):
    (squares / "stack" / "classes.txt").write_text("6")
    assert main(["data", "inspect", str(squares / "stack"), "--check"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["format"], info["images"], info["identities"], info["declared_classes"]) == ("stack", 12, 4, 6)
    assert info["image_sizes"] == {"32x32": 12} and info["unreadable"] == []


def test_an_unknown_format_is_one_error_naming_the_key_and_the_installed_ones(squares, capsys):
    assert main(["train", str(write_config(squares)), "--set", "data.format=nosuch"]) == 2
    err = capsys.readouterr().err.strip()
    assert "data.format: no data_format named 'nosuch' (installed: stack)" in err and "train_list" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1
