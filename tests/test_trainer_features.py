"""Training engine features: accumulation, non-finite guard, schedules, AdamW, bf16, DDP, validation."""
import math

import cv2
import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from facex_core import Backbone, FaceModel, HeadConfig, HeadOutput, MarginSoftmaxHead, ScheduleConfig, Trainer
from facex_core import LoopConfig, OptimizerConfig, TrainingMode, replace_target
from facex_core.engine.experiment import Experiment
from facex_core.engine.trainer import build_optimizer, load_checkpoint
from facex_core.testing import collect_results


class TinyNet(Backbone):
    """BN-free backbone so that micro-batches and ranks compute exactly what one big batch does."""

    def __init__(self, config=None):
        super().__init__(config)
        self.input_size, self.embedding_size = (16, 16), 8
        self.net = nn.Sequential(nn.Conv2d(3, 4, 3, 2, 1), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 8 * 8, 8))

    def forward(self, x):
        return self.net(x)


class Margin(MarginSoftmaxHead):
    def margin_logits(self, batch):
        t = batch.cos.gather(1, batch.target.clamp_min(0)[:, None]).squeeze(1)
        return replace_target(batch.cos, batch.target, t - 0.2) * 8.0


CONFIG = """
[experiment]
name = "t"
output_dir = "{out}"
seed = 1

[data]
root = "{data}/images"
train_list = "{data}/list.txt"
num_workers = 0

[evaluation]
cache = false
flip = "none"
batch_size = 8

[[evaluation.protocols]]
name = "pairs"
pairs_file = "{data}/pairs.txt"
image_root = "{data}/images"
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    lines = []
    for ident in range(4):
        name = f"P{ident}"
        (root / "images" / name).mkdir(parents=True)
        base = rng.integers(0, 255, (16, 16, 3))
        for k in range(1, 5):
            img = np.clip(base + rng.integers(-30, 30, base.shape), 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / "images" / name / f"{name}_{k:04d}.jpg"), img)
            lines.append(f"{name}/{name}_{k:04d}.jpg {ident}")
    (root / "list.txt").write_text("\n".join(lines) + "\n")

    def image(i, k):
        return f"P{i}/P{i}_{k:04d}.jpg"

    pos = [f"{image(i, 1)} {image(i, j)} 1" for i in range(4) for j in (2, 3)]
    neg = [f"{image(i, 1)} {image((i + 1) % 4, 2)} 0" for i in range(4)]
    neg += [f"{image(i, 3)} {image((i + 2) % 4, 4)} 0" for i in range(4)]
    (root / "pairs.txt").write_text("\n".join(pos + neg) + "\n")
    return root


def make_trainer(tmp_path, data_dir, name, loop, optimizer=None, schedule=None, head_cls=Margin, rank=0, mode=None):
    path = tmp_path / f"{name}-{rank}.toml"  # one file per rank: ranks must not race on writing it
    path.write_text(CONFIG.format(out=tmp_path / name, data=data_dir))
    exp = Experiment.from_file(path)
    exp.seed_everything()
    model = FaceModel(TinyNet(), head_cls(HeadConfig(num_classes=4, embedding_size=8)))
    dataset = exp.train_dataset((16, 16))
    return Trainer(exp, model, dataset, optimizer or OptimizerConfig(lr=0.05), schedule or ScheduleConfig(milestones=()),
                   loop, mode=mode)


def weights(trainer):
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_gradient_accumulation_equals_one_big_batch(tmp_path, data_dir):
    a = make_trainer(tmp_path, data_dir, "a", LoopConfig(epochs=2, batch_size=8, log_every=1))
    b = make_trainer(tmp_path, data_dir, "b", LoopConfig(epochs=2, batch_size=8, grad_accumulation=4, log_every=1))
    ra, rb = a.fit(), b.fit()
    assert ra.global_step == rb.global_step == 4
    wa, wb = weights(a), weights(b)
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], atol=1e-6, rtol=1e-5)


class NaNOnce(Margin):
    calls = 0

    def forward(self, embeddings, labels):
        out = super().forward(embeddings, labels)
        type(self).calls += 1
        if type(self).calls in (2,):
            return HeadOutput(loss=out.loss * float("nan"), logits=out.logits, targets=out.targets)
        return out


class AlwaysNaN(Margin):
    def forward(self, embeddings, labels):
        out = super().forward(embeddings, labels)
        return HeadOutput(loss=out.loss * float("nan"), logits=out.logits, targets=out.targets)


def test_non_finite_loss_is_skipped_then_stops_after_n_in_a_row(tmp_path, data_dir):
    t = make_trainer(tmp_path, data_dir, "nan1", LoopConfig(epochs=1, batch_size=4, log_every=1), head_cls=NaNOnce)
    before = weights(t)
    result = t.fit()
    assert result.skipped_steps == 1 and result.global_step == 3
    assert all(torch.isfinite(v).all() for v in weights(t).values() if v.is_floating_point())
    assert any(not torch.equal(before[k], v) for k, v in weights(t).items())
    t = make_trainer(tmp_path, data_dir, "nan2", LoopConfig(epochs=1, batch_size=4, max_nonfinite=2),
                     head_cls=AlwaysNaN)
    with pytest.raises(FloatingPointError, match="2 non-finite losses in a row"):
        t.fit()


def test_schedules_follow_their_formulas():
    ms = ScheduleConfig(milestones=(2, 4), gamma=0.1)
    assert [ms.lr(1.0, e) for e in (0, 1.9, 2, 3.5, 4)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])
    warm = ScheduleConfig(name="cosine", warmup_epochs=1.0, min_lr=0.0)
    assert warm.lr(2.0, 0.25, 5) == pytest.approx(0.5)          # linear warm-up: 2.0 × 0.25
    assert warm.lr(2.0, 3.0, 5) == pytest.approx(1.0)           # half-way through cosine: (1+cos(π/2))/2 × 2
    assert warm.lr(2.0, 5.0, 5) == pytest.approx(0.0)
    poly = ScheduleConfig(name="poly", power=2.0, min_lr=0.0)
    assert poly.lr(1.0, 2.5, 10) == pytest.approx((1 - 0.25) ** 2)


def test_adamw_without_decay_on_1d_parameters():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    opt = build_optimizer(OptimizerConfig(name="adamw", lr=1e-3, weight_decay=0.05, no_decay_1d=True), model)
    assert isinstance(opt, torch.optim.AdamW)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.05 and [p.shape for p in decay["params"]] == [(4, 3)]
    assert no_decay["weight_decay"] == 0.0 and len(no_decay["params"]) == 3


def test_bf16_autocast_training_runs_on_cpu(tmp_path, data_dir):
    t = make_trainer(tmp_path, data_dir, "bf16", LoopConfig(epochs=1, batch_size=4, amp="bf16", log_every=1))
    result = t.fit()
    assert result.finished and math.isfinite(result.loss)


def test_online_validation_keeps_the_best_checkpoint(tmp_path, data_dir):
    t = make_trainer(tmp_path, data_dir, "val", LoopConfig(epochs=2, batch_size=4, validate_every=2, log_every=1))
    result = t.fit()
    assert result.best["metric"] == "pairs/accuracy" and 0.0 <= result.best["value"] <= 1.0
    best = load_checkpoint(tmp_path / "val" / "checkpoints" / "best.pt")
    assert best["best"]["step"] == result.best["step"]


def _ddp_rank(rank, world, init_file, tmp, data_dir, shard, queue):
    import os

    import torch.distributed as dist

    os.environ["FACEX_NO_PROGRESS"] = "1"
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.manual_seed(0)
    from facex_core import ClassifierConfig

    class ShardHead(Margin):
        def __init__(self, cfg):
            super().__init__(HeadConfig(num_classes=4, embedding_size=8, classifier=ClassifierConfig(shard=shard)))

    t = make_trainer(tmp, data_dir, f"ddp{shard}", LoopConfig(epochs=1, batch_size=8, max_steps=1, log_every=1),
                     head_cls=ShardHead, rank=rank)
    full = load_initial(tmp)
    t.model.backbone.load_state_dict(full["backbone"])
    c = t.model.head.classifier
    with torch.no_grad():
        c.weight.copy_(full["head"][c.class_start:c.class_start + c.num_local])
    t.fit()
    queue.put((rank, {k: v.numpy().copy() for k, v in t.model.backbone.state_dict().items()},
               c.weight.detach().numpy().copy(), c.class_start, c.num_local))
    dist.destroy_process_group()


def load_initial(tmp):
    return torch.load(tmp / "init.pt", weights_only=True)


@pytest.mark.parametrize("shard", [True, False])
def test_two_gloo_processes_take_the_same_step_as_one(tmp_path, data_dir, shard):
    single = make_trainer(tmp_path, data_dir, "single", LoopConfig(epochs=1, batch_size=8, max_steps=1, log_every=1))
    torch.save({"backbone": single.model.backbone.state_dict(), "head": single.model.head.weight.detach()},
               tmp_path / "init.pt")
    single.fit()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_ddp_rank, args=(r, 2, str(tmp_path / "store"), tmp_path, data_dir, shard, queue))
             for r in range(2)]
    for p in procs:
        p.start()
    results = sorted(collect_results(queue, procs), key=lambda r: r[0])
    want = single.model.backbone.state_dict()
    for rank, backbone, head_w, start, num in results:
        for k, v in backbone.items():
            np.testing.assert_allclose(v, want[k].numpy(), atol=1e-6, rtol=1e-5, err_msg=k)
        np.testing.assert_allclose(head_w, single.model.head.weight.detach()[start:start + num].numpy(),
                                   atol=1e-6, rtol=1e-5)


class EvenItems(TrainingMode):
    """A mode that samples only the even items and counts its optimiser steps in checkpointed state."""

    def __init__(self):
        super().__init__(None)
        self.steps = 0

    def run(self, experiment, resume=False):  # driven by a Trainer built in the test
        raise NotImplementedError

    def epoch_indices(self, trainer):
        return list(range(0, len(trainer.dataset), 2))

    def after_optimizer_step(self, trainer):
        self.steps += 1

    def extra_state(self, trainer):
        return {"steps": self.steps}

    def load_extra_state(self, trainer, state, source):
        self.steps = state["steps"]


def test_mode_hooks_choose_the_items_and_their_state_survives_a_resume(tmp_path, data_dir):
    loop = dict(epochs=2, batch_size=4, log_every=1)
    full = make_trainer(tmp_path, data_dir, "hooks", LoopConfig(**loop), mode=EvenItems())
    assert full.steps_per_epoch == 4, "before the first epoch: the whole data set"
    result = full.fit()
    assert result.global_step == 4 and full.mode.steps == 4  # 8 of 16 items, batch 4: 2 steps per epoch
    assert {int(i) for i, _ in full._loader(1, 0).sampler} == set(range(0, 16, 2))
    part = make_trainer(tmp_path, data_dir, "hooks2", LoopConfig(**loop, max_steps=3), mode=EvenItems())
    assert not part.fit().finished and part.mode.steps == 3
    resumed = make_trainer(tmp_path, data_dir, "hooks2", LoopConfig(**loop), mode=EvenItems())
    resumed.fit(resume=True)
    assert resumed.mode.steps == 4, "extra_state came back from the checkpoint"
    assert load_checkpoint(tmp_path / "hooks2" / "checkpoints" / "last.pt")["mode_state"] == {"steps": 4}
    a, b = weights(full), weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


class FrozenBackbone(TrainingMode):
    """Backbone parameters at lr_scale 0 for the first optimiser step, then at 0.5 (a fine-tuning recipe)."""

    def run(self, experiment, resume=False):  # driven by a Trainer built in the test
        raise NotImplementedError

    def parameter_groups(self, trainer):
        self.groups = [{"params": list(trainer.model.backbone.parameters()), "lr_scale": 0.0},
                       {"params": list(trainer.model.head.parameters())}]
        return self.groups

    def after_optimizer_step(self, trainer):
        for group in trainer.optimizer.param_groups[:1]:
            group["lr_scale"] = 0.5


def test_parameter_groups_scale_the_schedules_rate_per_group(tmp_path, data_dir):
    mode = FrozenBackbone(None)
    t = make_trainer(tmp_path, data_dir, "groups", LoopConfig(epochs=1, batch_size=8, log_every=1, max_steps=1),
                     mode=mode)
    before = weights(t)
    t.fit()
    after = weights(t)
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("backbone.") and "weight" in k
               and "bn" not in k)
    assert not torch.equal(before["head.classifier.weight"], after["head.classifier.weight"])
    assert [g["lr"] for g in t.optimizer.param_groups] == [0.0, 0.05]
    t2 = make_trainer(tmp_path, data_dir, "groups2", LoopConfig(epochs=1, batch_size=8, log_every=1, max_steps=2),
                      mode=FrozenBackbone(None))
    t2.fit()
    assert [g["lr"] for g in t2.optimizer.param_groups] == [0.025, 0.05]  # the new scale, read at the next step
