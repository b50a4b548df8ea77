"""The distill mode: a teacher checkpoint distilled into a student on the core engine — the checkpoint
layout, bit-exact resume (with and without the teacher cache), the conventional run it reduces to,
gradient accumulation, two gloo processes, RecordIO, bf16, validation, the packaged demo configs
and the command line."""
import math
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn

import facex_core
import facex_mode_distill
from facex_core import ConfigError, Experiment, load_backbone_weights, load_checkpoint, save_checkpoint
from facex_core.testing import assert_light_module, collect_results, installed, torch_threads

NUM_IDS = 6

DATA = """
[experiment]
name = "{name}"
output_dir = "{out}"
seed = 3
threads = 1

[data]
root = "{data}/images"
train_list = "{data}/list.txt"
num_workers = {workers}
"""

TEACHER = DATA + """
[backbone]
name = "iresnet18"
layers = [1, 1, 1, 1]
embedding_size = 24
input_size = [32, 32]

[head]
name = "arcface"
scale = 16.0
margin = 0.2

[training]
name = "conventional"

[training.loop]
epochs = 2
batch_size = 4
log_every = 1
"""

STUDENT = DATA + """
[backbone]
name = "mobilefacenet"
embedding_size = 16
input_size = [32, 32]
blocks = [1, 0, 0, 0]

[head]
name = "arcface"
scale = 16.0
margin = 0.2

[training]
name = "distill"
teacher = "{teacher}"
{training}
{losses}

[training.loop]
epochs = 2
batch_size = 4
checkpoint_every = 3
log_every = 1
max_steps = {max_steps}

[training.optimizer]
lr = 0.05

[training.schedule]
milestones = [1]
"""

#: Every kind of tap and adapter: logits, embeddings (and a 16 → 24 linear adapter for AdaDistill),
#: one map (MobileFaceNet 64×8×8 → IResNet 128×8×8: 1×1 conv + BN), two maps for FSP, and a pooled map.
ALL_LOSSES = """
[[training.losses]]
name = "soft_target"
weight = 1.0
student = "logits"

[[training.losses]]
name = "fitnet"
weight = 0.5
student = "stage:stage2"

[[training.losses]]
name = "pkt"
weight = 2.0
student = "embeddings"

[[training.losses]]
name = "adadistill"
weight = 0.5
student = "embeddings"
options = { scale = 16.0, margin = 0.2 }

[[training.losses]]
name = "fsp"
weight = 1.0
student = "stage:stage1, stage:stage2"

[[training.losses]]
name = "nst"
weight = 1.0
student = "stage:stem"
teacher = "stage:stage2"
"""


@pytest.fixture(scope="module", autouse=True)
def _restore_threads():
    """The runs use one torch thread (experiment.threads = 1); give the rest of the session its setting back."""
    with torch_threads(torch.get_num_threads()):
        yield


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """6 identities × 4 images of 40×40 (JPEG, so that RecordIO packing keeps the bytes)."""
    root = tmp_path_factory.mktemp("distilldata")
    rng = np.random.default_rng(0)
    lines = []
    for ident in range(NUM_IDS):
        (root / "images" / f"id{ident}").mkdir(parents=True)
        base = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
        for k in range(4):
            img = np.clip(base + rng.integers(-30, 30, base.shape), 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / "images" / f"id{ident}" / f"{k}.jpg"), img)
            lines.append(f"id{ident}/{k}.jpg {ident}")
    (root / "list.txt").write_text("\n".join(lines) + "\n")
    return root


def write(tmp_path, name, text):
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, data_dir):
    """An IResNet + ArcFace teacher trained for a few steps with the conventional mode: its last.pt."""
    tmp = tmp_path_factory.mktemp("teacher")
    exp = Experiment.from_file(write(tmp, "teacher", TEACHER.format(name="teacher", out=tmp / "run", data=data_dir,
                                                                     workers=0)))
    exp.build_training_mode().run(exp)
    return tmp / "run" / "checkpoints" / "last.pt"


def student(tmp_path, data_dir, teacher, out, losses=ALL_LOSSES, training="", max_steps=0, workers=0,
            overrides=None, text=STUDENT):
    path = write(tmp_path, out, text.format(name=out, out=tmp_path / out, data=data_dir, workers=workers,
                                            teacher=teacher, training=training, losses=losses, max_steps=max_steps))
    return Experiment.from_file(path, overrides)


def run(exp, resume=False):
    return exp.build_training_mode().run(exp, resume=resume)


def last(exp, name="last"):
    return load_checkpoint(exp.output_dir / "checkpoints" / f"{name}.pt")


def assert_same_state(a, b, keys=None, exact=True):
    """Equal tensors; with ``exact=False`` floating ones may differ by float32 rounding (summation order):
    at most 1e-5 of the tensor's largest magnitude."""
    for k in keys or a:
        if exact or not a[k].is_floating_point():
            assert torch.equal(a[k], b[k]), k
        else:
            scale = float(a[k].abs().max()) + 1e-6
            assert float((a[k] - b[k]).abs().max()) <= 1e-5 * scale, k


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, data_dir, teacher):
    tmp = tmp_path_factory.mktemp("full")
    exp = student(tmp, data_dir, teacher, "full")
    return exp, run(exp)


# -- registration and configuration ----------------------------------------------------------
def test_registration_is_light_and_the_kind_is_listed(capsys):
    assert_light_module("facex_mode_distill.plugin")
    assert {"soft_target", "snn_mimic", "fitnet", "fsp", "pkt", "ft", "rkd", "nst", "adadistill"} <= set(
        installed("distill_loss"))
    assert facex_core.main(["list", "--kind", "distill_loss"]) == 0
    listed = capsys.readouterr().out
    assert "distill_loss  soft_target" in listed and "facex-distill-adadistill" in listed


def test_terms_are_validated_with_the_loss_configs(tmp_path, data_dir):
    exp = student(tmp_path, data_dir, "t.pt", "cfg")
    terms = exp.training.config.losses
    assert [t.name for t in terms] == ["soft_target", "fitnet", "pkt", "adadistill", "fsp", "nst"]
    assert terms[0].options == {"T": 4.0}, "the loss's defaults are filled in"
    assert terms[4].student_taps == ("stage:stage1", "stage:stage2") == terms[4].teacher_taps
    assert terms[5].teacher_taps == ("stage:stage2",)
    assert exp.resolved()["training"]["losses"][3]["options"]["margin"] == 0.2
    with pytest.raises(ConfigError, match=r"training.losses\[0\]: options.T: must be > 0"):
        student(tmp_path, data_dir, "t.pt", "bad", overrides=["training.losses.0.options.T=0"])
    with pytest.raises(ConfigError, match="no distill_loss named 'nope'"):
        student(tmp_path, data_dir, "t.pt", "bad", overrides=["training.losses.1.name=nope"])
    with pytest.raises(ConfigError, match="tap 'logit'"):
        student(tmp_path, data_dir, "t.pt", "bad", overrides=["training.losses.0.student=logit"])
    with pytest.raises(ConfigError, match="at least one"):
        student(tmp_path, data_dir, "t.pt", "bad", overrides=["training.losses=[]"])


def test_build_errors_are_clear(tmp_path, data_dir, teacher):
    with pytest.raises(ConfigError, match="no such checkpoint"):
        run(student(tmp_path, data_dir, tmp_path / "missing.pt", "e1"))
    with pytest.raises(ConfigError, match="channels RGB.*the student's \\[data\\] gives|channels BGR.*channels RGB"):
        run(student(tmp_path, data_dir, teacher, "e2", overrides=['data.channels="RGB"']))
    with pytest.raises(ConfigError, match="soft_target takes logits"):
        run(student(tmp_path, data_dir, teacher, "e3", overrides=["training.losses.0.student=embeddings"]))
    with pytest.raises(ConfigError, match="adapter = 'none'"):
        run(student(tmp_path, data_dir, teacher, "e4", overrides=['training.losses.1.adapter="none"']))
    with pytest.raises(ConfigError, match="has no stage 'stage9'|stage9"):
        run(student(tmp_path, data_dir, teacher, "e5", overrides=['training.losses.1.student="stage:stage9"']))
    with pytest.raises(ConfigError, match="cached only for data that are not augmented"):
        run(student(tmp_path, data_dir, teacher, "e6", training="cache_teacher = true",
                     overrides=["data.augment.blur=0.5"]))


# -- a run: checkpoint layout, frozen teacher, logged terms ----------------------------------
def test_run_trains_the_student_and_keeps_adapters_out_of_the_backbone(full_run, teacher):
    exp, res = full_run
    assert res.finished and res.epochs_done == 2 and res.global_step == 12 and math.isfinite(res.loss)
    ckpt = last(exp)
    keys = set(ckpt["model"])
    assert {k.split(".")[0] for k in keys} == {"backbone", "head", "distill"}
    # fitnet: 64 → 128 channels; adadistill: 16 → 24 embeddings; fsp: only its second map 64 → 128; nst
    # (any channel count) only pools the student's 16×16 stem to the teacher's 8×8: no weights; logits
    # and pkt (batch relations) need none
    weights = {k for k in keys if k.startswith("distill.adapters.") and k.endswith(("conv.weight", "linear.weight"))}
    assert weights == {"distill.adapters.1.0.conv.weight", "distill.adapters.3.0.linear.weight",
                       "distill.adapters.4.1.conv.weight"}
    assert ckpt["model"]["distill.losses.3.centers"].shape == (NUM_IDS, 24), "AdaDistill's centres are kept"
    assert ckpt["components"]["training"]["distribution"] == "facex-mode-distill"
    assert len(ckpt["mode_state"]["teacher"]) == 64
    # evaluation, export and the SDK rebuild the student from the checkpoint and load its backbone strictly
    again = Experiment.from_checkpoint(exp.output_dir / "checkpoints" / "last.pt")
    fresh = again.build_backbone()
    load_backbone_weights(fresh, exp.output_dir / "checkpoints" / "last.pt")
    assert all(torch.equal(v, ckpt["model"]["backbone." + k]) for k, v in fresh.state_dict().items())
    # every term was logged
    events = list((exp.output_dir / "tb").glob("events.*"))
    blob = events[0].read_bytes()
    for key in ("distill_soft_target", "distill_fitnet", "distill_pkt", "distill_adadistill", "distill_fsp",
                "distill_nst"):
        assert f"train/{key}".encode() in blob, key


def test_teacher_is_frozen_in_eval_mode_and_gets_no_gradient(tmp_path, data_dir, teacher):
    exp = student(tmp_path, data_dir, teacher, "frozen")
    trainer = exp.build_training_mode().build(exp)
    mode = trainer.mode
    t = mode.teacher
    assert not t.backbone.training and not t.head.training
    assert not any(p.requires_grad for p in t.backbone.parameters())
    before = {k: v.clone() for k, v in t.backbone.state_dict().items()}
    trainer.model.train()
    batch = next(iter(trainer._loader(0, 0)))
    out, _ = trainer.train_step([batch])
    assert torch.isfinite(out.total_loss)
    assert all(torch.equal(v, before[k]) for k, v in t.backbone.state_dict().items()), "teacher BN stats moved"
    assert all(p.grad is None for p in t.backbone.parameters())
    assert set(out.extra_losses) == {"distill_soft_target", "distill_fitnet", "distill_pkt", "distill_adadistill",
                                     "distill_fsp", "distill_nst"}
    assert not any(k.startswith("teacher") for k in trainer.model.state_dict())


def test_with_every_weight_zero_it_is_the_conventional_run_bit_for_bit(tmp_path, data_dir, teacher):
    zero = student(tmp_path, data_dir, teacher, "zero", overrides=[f"training.losses.{i}.weight=0" for i in range(6)])
    run(zero)
    plain = student(tmp_path, data_dir, teacher, "plain", losses="",
                    text=STUDENT.replace('name = "distill"\nteacher = "{teacher}"', 'name = "conventional"'))
    run(plain)
    a, b = last(zero)["model"], last(plain)["model"]
    assert_same_state(b, a, keys=list(b))


# -- resume ----------------------------------------------------------------------------------
def test_resume_mid_epoch_is_bit_exact(tmp_path, data_dir, teacher, full_run):
    full, _ = full_run
    part = student(tmp_path, data_dir, teacher, "part", max_steps=8)  # mid-epoch 2 (6 + 6 steps)
    res = run(part)
    assert not res.finished and res.global_step == 8
    resumed = student(tmp_path, data_dir, teacher, "part")
    res = run(resumed, resume=True)
    assert res.finished and res.global_step == 12
    a, b = last(full), last(resumed)
    assert a["model"].keys() == b["model"].keys()
    assert_same_state(a["model"], b["model"])
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert torch.equal(sa["momentum_buffer"], sb["momentum_buffer"])
    assert a["mode_state"] == b["mode_state"]


def test_resume_refuses_another_teacher_and_a_foreign_checkpoint(tmp_path, data_dir, teacher):
    exp = student(tmp_path, data_dir, teacher, "other", max_steps=2)
    run(exp)
    trainer = student(tmp_path, data_dir, teacher, "other").build_training_mode().build(
        student(tmp_path, data_dir, teacher, "other"))
    payload = trainer.state()
    payload["mode_state"] = {"teacher": "0" * 64}
    save_checkpoint(tmp_path / "changed.pt", payload)
    with pytest.raises(ConfigError, match="other teacher weights"):
        trainer.restore(tmp_path / "changed.pt")
    del payload["mode_state"]
    save_checkpoint(tmp_path / "foreign.pt", payload)
    with pytest.raises(ConfigError, match="not a distill checkpoint"):
        trainer.restore(tmp_path / "foreign.pt")


# -- the teacher cache -----------------------------------------------------------------------
CACHED_LOSSES = """
[[training.losses]]
name = "soft_target"
student = "logits"

[[training.losses]]
name = "fitnet"
weight = 0.5
student = "stage:stage2"
"""


def test_cache_gives_the_teachers_outputs_and_resumes_bit_exact(tmp_path, data_dir, teacher):
    cached = student(tmp_path, data_dir, teacher, "cached", losses=CACHED_LOSSES, training="cache_teacher = true")
    trainer = cached.build_training_mode().build(cached)
    mode = trainer.mode
    trainer._plan_epoch()  # builds the cache: 24 images × 2 flips
    assert mode.cache["logits"].shape == (2, 24, NUM_IDS) and mode.cache["stage:stage2"].shape == (2, 24, 128, 8, 8)
    batch = mode.prepare_batch(trainer, next(iter(trainer._loader(0, 0))))
    from_cache = mode.teacher_sides(trainer, batch)
    mode.cache = None
    live = mode.teacher_sides(trainer, batch)
    for a, b in zip(from_cache, live):
        for x, y in zip(a, b):
            torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-5)  # the same up to batch-dependent rounding
    full = run(student(tmp_path, data_dir, teacher, "cached", losses=CACHED_LOSSES, training="cache_teacher = true"))
    assert full.finished
    part = student(tmp_path, data_dir, teacher, "cpart", losses=CACHED_LOSSES, training="cache_teacher = true",
                   max_steps=9)
    run(part)
    resumed = student(tmp_path, data_dir, teacher, "cpart", losses=CACHED_LOSSES, training="cache_teacher = true")
    run(resumed, resume=True)
    assert_same_state(last(student(tmp_path, data_dir, teacher, "cached", losses=CACHED_LOSSES))["model"],
                      last(resumed)["model"])
    uncached = student(tmp_path, data_dir, teacher, "uncached", losses=CACHED_LOSSES)
    run(uncached)
    assert_same_state(last(uncached)["model"], last(resumed)["model"], exact=False)


# -- the core engine's features under distillation -------------------------------------------
class TinyNet(facex_core.Backbone):
    """A BN-free student (so that micro-batches and ranks compute exactly what one batch does) whose
    ``stem`` map has the shape of the IResNet teacher's (64×32×32): no adapter, no batch statistics."""

    def __init__(self) -> None:
        super().__init__(SimpleNamespace(input_size=(32, 32), embedding_size=16))
        self.stem = nn.Conv2d(3, 64, 3, 1, 1)
        self.fc = nn.Linear(64 * 4 * 4, 16)

    def forward(self, images):
        return self.fc(F.avg_pool2d(torch.tanh(self.stem(images)), 8).flatten(1))

    def stages(self):
        return {"stem": self.stem}


TINY_LOSSES = """
[[training.losses]]
name = "soft_target"
student = "logits"

[[training.losses]]
name = "fitnet"
weight = 0.1
student = "stage:stem"
adapter = "none"
"""


def build_tiny(tmp_path, data_dir, teacher, out, overrides=()):
    exp = student(tmp_path, data_dir, teacher, out, losses=TINY_LOSSES, overrides=list(overrides))
    exp.build_backbone = TinyNet
    return exp.build_training_mode().build(exp)


def test_gradient_accumulation_equals_one_big_batch(tmp_path, data_dir, teacher):
    one = build_tiny(tmp_path, data_dir, teacher, "acc1")
    two = build_tiny(tmp_path, data_dir, teacher, "acc2", ["training.loop.grad_accumulation=2"])
    assert two.micro_batch == 2
    r1, r2 = one.fit(), two.fit()
    assert r1.global_step == r2.global_step == 12
    assert_same_state(one.model.state_dict(), two.model.state_dict(), exact=False)


def test_records_give_the_same_run_as_the_image_list(tmp_path, data_dir, teacher):
    assert facex_core.main(["data", "pack", str(data_dir / "images"), str(tmp_path / "rec"),
                            "--train-list", str(data_dir / "list.txt"), "--workers", "0"]) == 0
    listed = student(tmp_path, data_dir, teacher, "listed", max_steps=4)
    packed = student(tmp_path, data_dir, teacher, "packed", max_steps=4,
                     overrides=['data.format="recordio"', f'data.root="{tmp_path / "rec"}"'])
    assert run(listed).global_step == run(packed).global_step == 4
    assert_same_state(last(listed)["model"], last(packed)["model"])


def test_bf16_channels_last_clipping_and_compile(tmp_path, data_dir, teacher):
    exp = student(tmp_path, data_dir, teacher, "bf16", max_steps=1, overrides=[
        "training.loop.amp=bf16", "training.loop.channels_last=true", "training.loop.clip_grad_norm=1.0",
        "experiment.device=cpu"])
    res = run(exp)
    assert res.global_step == 1 and res.skipped_steps == 0 and math.isfinite(res.loss)
    compiled = build_tiny(tmp_path, data_dir, teacher, "compiled", ["training.loop.compile=true"])  # lazily: cheap
    assert compiled.forward_model._orig_mod is compiled.model


def _rank(rank, world, init_file, tmp, data_dir, teacher, queue):
    import os

    import torch.distributed as dist

    os.environ["FACEX_NO_PROGRESS"] = "1"
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    trainer = build_tiny(tmp, data_dir, teacher, f"ddp{rank}", DDP_OVERRIDES)
    assert trainer.world == 2 and trainer.micro_batch == 2
    trainer.fit()
    queue.put((rank, {k: v.detach().numpy().copy() for k, v in trainer.model.state_dict().items()}))
    dist.destroy_process_group()


DDP_OVERRIDES = ["training.loop.max_steps=3", "head.classifier.shard=false"]


def test_two_gloo_processes_take_the_same_steps_as_one(tmp_path, data_dir, teacher):
    single = build_tiny(tmp_path, data_dir, teacher, "single", DDP_OVERRIDES)
    single.fit()
    queue = mp.get_context("spawn").Queue()
    ranks = mp.start_processes(_rank, (2, str(tmp_path / "store"), tmp_path, data_dir, teacher, queue), nprocs=2,
                               join=False, start_method="spawn")
    results = sorted(collect_results(queue, ranks.processes), key=lambda r: r[0])
    s0, s1 = ({k: torch.from_numpy(v) for k, v in r[1].items()} for r in results)
    assert_same_state(s0, s1)  # the ranks agree
    assert_same_state(single.model.state_dict(), s0, exact=False)  # and took the single process's steps


def test_a_sharded_head_is_refused_under_torch_distributed(tmp_path, data_dir, teacher, monkeypatch):
    exp = student(tmp_path, data_dir, teacher, "shard")
    head = exp.build_head()
    head.classifier.sharded = True
    monkeypatch.setattr(exp, "build_head", lambda: head)
    with pytest.raises(ConfigError, match="shard = false"):
        exp.build_training_mode().build(exp)


# -- the packaged demo and the command line --------------------------------------------------
needs_synthetic = pytest.mark.skipif("synthetic" not in installed("dataset") or "lfw" not in installed("protocol"),
                                     reason="the packaged configs need facex-data-synthetic and facex-protocol-lfw")


@needs_synthetic
def test_packaged_demo_trains_teacher_then_student_with_validation(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEX_NO_PROGRESS", "1")
    data = tmp_path / "data"
    shared = [f"prepare.0.output={data}", "prepare.0.train_identities=6", "prepare.0.train_images_per_identity=4",
              "prepare.0.test_identities=20", "prepare.0.test_images_per_identity=2", "prepare.0.pairs_per_fold=4",
              f"data.root={data / 'train/images'}", f"data.train_list={data / 'train/train_list.txt'}",
              "data.num_workers=0", "backbone.input_size=[32, 32]", "experiment.threads=1",
              "training.loop.epochs=1", "training.loop.batch_size=4", "training.schedule.milestones=[1]",
              f"evaluation.protocols.0.pairs_file={data / 'test/pairs.txt'}",
              f"evaluation.protocols.0.image_root={data / 'test/images'}"]
    t_exp = Experiment.from_file("distill_teacher.toml", shared + [f"experiment.output_dir={tmp_path / 'teacher'}"])
    assert Path(t_exp.source.split(" (with")[0]) == Path(facex_mode_distill.__file__).with_name("distill_teacher.toml")
    t_exp.prepare_data(workers=0)
    run(t_exp)
    s_exp = Experiment.from_file("distill.toml", shared + [
        f"experiment.output_dir={tmp_path / 'student'}", f"training.teacher={tmp_path / 'teacher/checkpoints/last.pt'}",
        "training.loop.validate_every=3", "training.loop.max_steps=6"])
    assert s_exp.training.config.cache_teacher
    res = run(s_exp)
    assert res.global_step == 6 and res.best and (tmp_path / "student/checkpoints/best.pt").exists()
    report = facex_core.evaluate_experiment(s_exp, "last", "student")
    assert 0.0 <= next(iter(report.results.values())).metrics["accuracy"] <= 1.0


def test_command_line_trains_from_the_teacher_and_resumes_bit_for_bit(tmp_path, data_dir, teacher, full_run,
                                                                      monkeypatch, capsys):
    monkeypatch.setenv("FACEX_NO_PROGRESS", "1")
    path = write(tmp_path, "cli", STUDENT.format(name="cli", out=tmp_path / "cli", data=data_dir, workers=0,
                                                teacher=teacher, training="", losses=ALL_LOSSES, max_steps=0))
    assert facex_core.main(["train", str(path), "--set", "training.loop.max_steps=5"]) == 0
    assert "stopped early" in capsys.readouterr().out
    assert facex_core.main(["train", str(path), "--resume"]) == 0
    assert_same_state(last(full_run[0])["model"], load_checkpoint(tmp_path / "cli/checkpoints/last.pt")["model"])
