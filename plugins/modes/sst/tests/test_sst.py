"""Semi-Siamese Training: queue maths by hand, momentum, shuffle-BN, exclusion, resume, a short run,
gradient accumulation, two gloo processes and RecordIO data on the core engine."""
import copy
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

import facex_core
import facex_mode_sst
from facex_core import AugmentConfig, ConfigError, Experiment, FaceImageDataset, ImageLoadError
from facex_core import augment, load_backbone_weights, load_checkpoint, load_image, to_tensor
from facex_core.testing import collect_results, installed
from facex_mode_sst.data import SSTPairDataset, pick_pair, sst_augment, view_seed
from facex_mode_sst.mode import plan_epochs, step_order, step_rows
from facex_mode_sst.sst import (PrototypeQueue, SSTModel, inverse_permutation, momentum_update,
                                shuffled_forward)

NUM_IDS = 12

CONFIG = """
[experiment]
name = "sst"
output_dir = "{out}"
seed = 5
threads = 1

[data]
root = "{data}/images"
train_list = "{data}/list.txt"
num_workers = {workers}

[backbone]
name = "mobilefacenet"
embedding_size = 16
input_size = [32, 32]
blocks = [1, 0, 0, 0]

[training]
name = "sst"
queue_size = 4
alpha = 0.9
{extra}

[training.loop]
epochs = 2
batch_size = 2
checkpoint_every = 3
log_every = 1
max_steps = {max_steps}

[training.schedule]
milestones = [1]
"""


@pytest.fixture(scope="module", autouse=True)
def _restore_threads():
    """The runs use one torch thread (experiment.threads = 1: much faster on a loaded 2-core box);
    give the rest of the session its setting back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """12 identities of 40×40 images: identity 0 has one image, the others two or three."""
    root = tmp_path_factory.mktemp("sstdata")
    rng = np.random.default_rng(0)
    lines = []
    for ident in range(NUM_IDS):
        (root / "images" / f"id{ident}").mkdir(parents=True)
        base = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
        for k in range(1 if ident == 0 else 2 + ident % 2):
            img = np.clip(base + rng.integers(-20, 20, base.shape), 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / "images" / f"id{ident}" / f"{k}.png"), img)
            lines.append(f"id{ident}/{k}.png {ident}")
    (root / "list.txt").write_text("\n".join(lines) + "\n")
    return root


def experiment(tmp_path, data_dir, out, max_steps=0, workers=0, extra="", head="", overrides=None):
    path = tmp_path / f"{out}.toml"
    path.write_text(CONFIG.format(out=tmp_path / out, data=data_dir, max_steps=max_steps, workers=workers,
                                  extra=extra) + head)
    return Experiment.from_file(path, overrides)


def run(exp, resume=False):
    return exp.build_training_mode().run(exp, resume=resume)


def last(exp, name="last"):
    return load_checkpoint(exp.output_dir / "checkpoints" / f"{name}.pt")


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, data_dir):
    tmp = tmp_path_factory.mktemp("full")
    exp = experiment(tmp, data_dir, "full")
    return exp, run(exp)


# -- the prototype queue, by hand ------------------------------------------------------------
def _unit(v):
    return v / v.norm()


def _hand_logits(queue, start, p, g, scale, margin_fn):
    """Row i, column j: s · margin(p̂_i · column j), column j = ĝ_{j-start} on the batch's slots."""
    rows = []
    for i in range(p.shape[0]):
        row = []
        for j in range(queue.shape[1]):
            col = _unit(g[j - start]) if start <= j < start + p.shape[0] else queue[:, j]
            c = float(_unit(p[i]) @ col)
            row.append(scale * (margin_fn(c) if j == start + i else c))
        rows.append(row)
    return torch.tensor(rows)


@pytest.mark.parametrize("loss_type,margin_fn", [
    ("am_softmax", lambda c: c - 0.25),
    ("arc_softmax", lambda c: math.cos(math.acos(c) + 0.25)),
    ("softmax", lambda c: c)])
def test_logits_and_loss_match_a_hand_computation(loss_type, margin_fn):
    torch.manual_seed(0)
    q = PrototypeQueue(4, 8, scale=2.0, loss_type=loss_type, margin=0.25)  # D=4, Q=8
    cols = torch.randn(4, 8)
    q.queue.copy_(cols / cols.norm(dim=0))
    q.pointer.fill_(2)
    before = q.queue.clone()
    p1, g2, p2, g1 = (torch.randn(2, 4, requires_grad=True) for _ in range(4))  # B=2
    out = q(p1, g2, p2, g1)
    l1 = _hand_logits(before, 2, p1.detach(), g2.detach(), 2.0, margin_fn)
    l2 = _hand_logits(before, 2, p2.detach(), g1.detach(), 2.0, margin_fn)
    torch.testing.assert_close(out.logits.detach(), torch.cat([l1, l2]), atol=1e-5, rtol=0)
    assert out.targets.tolist() == [2, 3, 2, 3]

    def ce(lg):
        return sum(float(torch.logsumexp(lg[i], 0) - lg[i, 2 + i]) for i in range(2)) / 2

    assert float(out.loss.detach()) == pytest.approx(0.5 * (ce(l1) + ce(l2)), abs=1e-5)
    assert torch.equal(q.queue, before) and int(q.pointer) == 2, "scoring must not change the queue"
    out.loss.backward()
    assert p1.grad is not None and p2.grad is not None
    assert g1.grad is None and g2.grad is None, "gallery features are detached"


def test_enqueue_writes_unit_prototypes_labels_and_wraps_the_pointer():
    torch.manual_seed(1)
    q = PrototypeQueue(4, 8)
    before = q.queue.clone()
    assert torch.allclose(before.norm(dim=0), torch.ones(8))
    assert q.labels.tolist() == [-1] * 8 and q.identities().numel() == 0
    g = torch.randn(2, 4)
    q.pointer.fill_(2)
    q.enqueue(g, torch.tensor([7, 9]))
    torch.testing.assert_close(q.queue[:, 2], _unit(g[0]))
    torch.testing.assert_close(q.queue[:, 3], _unit(g[1]))
    keep = [0, 1, 4, 5, 6, 7]
    assert torch.equal(q.queue[:, keep], before[:, keep])
    assert q.labels.tolist() == [-1, -1, 7, 9, -1, -1, -1, -1] and int(q.pointer) == 4
    q.pointer.fill_(6)
    q.enqueue(g, torch.tensor([3, 7]))
    assert int(q.pointer) == 0 and q.identities().tolist() == [3, 7, 9]
    with pytest.raises(ValueError, match="multiple of the batch size"):
        q.pointer.fill_(6)
        q.enqueue(torch.randn(3, 4), torch.tensor([1, 2, 3]))
    assert {"queue", "labels", "pointer"} <= set(q.state_dict())


# -- momentum gallery and shuffle-BN ---------------------------------------------------------
def test_momentum_update_formula():
    torch.manual_seed(2)
    probe = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    gallery = copy.deepcopy(probe)
    with torch.no_grad():
        for p in gallery.parameters():
            p.add_(torch.randn_like(p))
        gallery[1].running_mean.fill_(5.0)
    old = [p.clone() for p in gallery.parameters()]
    momentum_update(gallery, probe, 0.9)
    for g, o, p in zip(gallery.parameters(), old, probe.parameters()):
        torch.testing.assert_close(g, 0.9 * o + 0.1 * p)
    assert torch.all(gallery[1].running_mean == 5.0), "buffers are not averaged"
    momentum_update(gallery, probe, 0.0)
    assert all(torch.equal(g, p) for g, p in zip(gallery.parameters(), probe.parameters()))


def test_shuffle_bn_forward_returns_rows_in_input_order():
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    inv = inverse_permutation(perm)
    assert torch.equal(perm[inv], torch.arange(6)) and torch.equal(inv[perm], torch.arange(6))
    seen = []

    class Record(nn.Module):
        def forward(self, x):
            seen.append(x.clone())
            return x * 10

    x = torch.arange(6.0).view(6, 1)
    out = shuffled_forward(Record(), x, perm)
    assert torch.equal(seen[0], x[perm]), "the network sees the shuffled batch"
    assert torch.equal(out, x * 10), "rows come back in input order"
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).train()
    x = torch.randn(6, 3)
    torch.testing.assert_close(shuffled_forward(net, x, perm), net(x))


def test_gallery_is_a_frozen_copy_in_eval_mode_with_batch_statistics():
    torch.manual_seed(4)
    backbone = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))
    model = SSTModel(backbone, PrototypeQueue(4, 4)).train()
    assert model.backbone.training and not model.gallery.training
    assert model.gallery[1].training and not model.gallery[2].training
    assert not any(p.requires_grad for p in model.gallery.parameters())
    assert all(torch.equal(a, b) for a, b in zip(model.gallery.parameters(), model.backbone.parameters()))
    keys = set(model.state_dict())
    assert {"backbone.0.weight", "gallery.0.weight", "prototype.queue", "prototype.labels",
            "prototype.pointer"} <= keys
    model.eval()
    assert not model.gallery[1].training


# -- data ------------------------------------------------------------------------------------
def _core_view(data_dir, rel, seed, cfg):
    """One view computed straight from the core helpers: flip on the seed's low bit, then augment."""
    img = load_image(data_dir / "images" / rel)
    if seed & 1:
        img = img[:, ::-1]
    return to_tensor(augment(img, cfg, seed) if cfg is not None else np.ascontiguousarray(img), (32, 32))


def test_views_are_the_core_sst_augmentation_of_two_images_of_the_identity(tmp_path, data_dir):
    exp = experiment(tmp_path, data_dir, "ds")
    trainer = exp.build_training_mode().build(exp)
    ds = trainer.dataset
    assert len(ds) == NUM_IDS and ds.labels == list(range(NUM_IDS))
    cfg = ds.images.augment
    assert (cfg.crop_resize, cfg.grayscale, cfg.rotation) == (0.5, 0.2, 0.5)
    views, label = ds[(3, 77)]
    assert views.shape == (2, 3, 32, 32) and label == 3
    assert torch.equal(views, ds[(3, 77)][0]), "items are reproducible from (index, seed)"
    a, b = pick_pair(3, np.random.default_rng([77, 0]))  # identity 3 has three images
    torch.testing.assert_close(views[0], _core_view(data_dir, f"id3/{a}.png", view_seed(77, 1), cfg), atol=0, rtol=0)
    torch.testing.assert_close(views[1], _core_view(data_dir, f"id3/{b}.png", view_seed(77, 2), cfg), atol=0, rtol=0)
    assert ds.allowed([1, 4, 5]) == [0, 2, 3, 6, 7, 8, 9, 10, 11]
    plain = experiment(tmp_path, data_dir, "plain", extra="augment = false\n")
    ds = plain.build_training_mode().build(plain).dataset
    assert ds.images.augment is None
    torch.testing.assert_close(ds[(3, 77)][0][0], _core_view(data_dir, f"id3/{a}.png", view_seed(77, 1), None))


def test_pairs_are_two_distinct_images_or_the_only_one_twice():
    rng = np.random.default_rng(0)
    pairs = [pick_pair(3, rng) for _ in range(200)]
    assert all(a != b and 0 <= a < 3 and 0 <= b < 3 for a, b in pairs)
    assert {(0, 1), (1, 0)} <= set(pairs), "both orders occur"
    assert pick_pair(1, rng) == (0, 0)


def test_sst_recipe_fills_in_the_reference_probabilities_where_the_table_leaves_0():
    r = sst_augment(AugmentConfig())
    assert (r.crop_resize, r.grayscale, r.rotation) == (0.5, 0.2, 0.5)
    assert sst_augment(AugmentConfig(rotation=0.1)).rotation == 0.1
    assert sst_augment(AugmentConfig(blur=0.3)).blur == 0.3 and r.blur == 0.0


def test_data_augment_table_composes_with_the_recipe_and_is_not_doubled(tmp_path, data_dir):
    base = experiment(tmp_path, data_dir, "base").build_training_mode()
    recipe = ["data.augment.crop_resize=0.5", "data.augment.grayscale=0.2", "data.augment.rotation=0.5"]
    exps = [experiment(tmp_path, data_dir, n, overrides=o) for n, o in (
        ("same", recipe), ("blur", ["data.augment.blur=1.0"]))]
    datasets = [base.build(experiment(tmp_path, data_dir, "b0")).dataset] + [
        e.build_training_mode().build(e).dataset for e in exps]
    assert torch.equal(datasets[0][(1, 9)][0], datasets[1][(1, 9)][0]), "recipe written out + training.augment = one recipe"
    assert datasets[2].images.augment.blur == 1.0 and datasets[2].images.augment.crop_resize == 0.5
    assert not torch.equal(datasets[0][(1, 9)][0], datasets[2][(1, 9)][0])


def test_unreadable_images_are_skipped_within_the_identity_when_allowed(tmp_path):
    for name, value in (("id0", 90), ("id1", 200)):
        (tmp_path / name).mkdir()
        cv2.imwrite(str(tmp_path / name / "ok.png"), np.full((40, 40, 3), value, np.uint8))
    (tmp_path / "id0" / "bad.png").write_bytes(b"corrupt")
    samples = [("id0/bad.png", 0), ("id0/ok.png", 0), ("id1/ok.png", 1)]
    strict = SSTPairDataset(FaceImageDataset(tmp_path, samples, input_size=(32, 32), flip=False))
    with pytest.raises(ImageLoadError, match="bad.png"):
        for seed in range(8):
            strict[(0, seed)]
    log = tmp_path / "bad_images.txt"
    lenient = SSTPairDataset(FaceImageDataset(tmp_path, samples, input_size=(32, 32), flip=False, bad_log=log))
    for seed in range(8):
        views, label = lenient[(0, seed)]
        assert label == 0 and torch.equal(views[0], views[1]), "both views show the identity's readable image"
        assert float(views[0].mean()) == pytest.approx((90 - 127.5) / 128)
    assert "bad.png" in log.read_text()


# -- identity exclusion ----------------------------------------------------------------------
def test_plan_and_clear_error_when_the_queue_leaves_no_batch():
    assert plan_epochs(12, 4, 2, 3) == [6, 4, 4]
    assert plan_epochs(12, 8, 4, 2) == [3, 1]
    with pytest.raises(ValueError, match=r"queue_size = 12 is too large for 12 identities.*queue_size <= 10"):
        plan_epochs(12, 12, 2, 2)
    with pytest.raises(ValueError, match="fewer than one batch"):
        plan_epochs(3, 4, 4, 1)


def test_identities_in_the_queue_are_excluded_from_the_next_epoch(tmp_path, data_dir):
    exp = experiment(tmp_path, data_dir, "ex")
    mode = exp.build_training_mode()
    trainer = mode.build(exp)
    trainer.model.prototype.labels[:4] = torch.tensor([9, 2, 5, 7])
    trainer._plan_epoch()
    indices = trainer._epoch_items
    assert mode.excluded.tolist() == [2, 5, 7, 9] and trainer.steps_per_epoch == 4
    assert not {trainer.dataset.labels[i] for i in indices} & {2, 5, 7, 9} and len(indices) == 8
    sampled = {int(i) for i, _ in trainer._loader(0, 0).sampler}
    assert sampled == set(indices), "the engine samples exactly the allowed identities"
    # mid-epoch the set fixed at the epoch start stays, whatever the queue holds now
    trainer.step_in_epoch = 1
    trainer.model.prototype.labels[:4] = torch.tensor([0, 1, 3, 4])
    assert mode.epoch_indices(trainer) == indices


def test_one_step_updates_gallery_and_queue(tmp_path, data_dir):
    exp = experiment(tmp_path, data_dir, "one")
    trainer = exp.build_training_mode().build(exp)
    model = trainer.model.train()
    gallery0 = [p.clone() for p in model.gallery.parameters()]
    queue0 = model.prototype.queue.clone()
    trainer._plan_epoch()
    pairs, labels = next(iter(trainer._loader(0, 0)))
    out, _ = trainer.train_step([(pairs, labels)])
    assert torch.isfinite(out.loss) and trainer.global_step == 1
    for g, g0, p in zip(model.gallery.parameters(), gallery0, model.backbone.parameters()):
        torch.testing.assert_close(g, 0.9 * g0 + 0.1 * p)
    assert model.prototype.labels[:2].tolist() == labels.tolist() and int(model.prototype.pointer) == 2
    assert not torch.equal(model.prototype.queue[:, :2], queue0[:, :2])
    assert torch.equal(model.prototype.queue[:, 2:], queue0[:, 2:])
    torch.testing.assert_close(model.prototype.queue[:, :2].norm(dim=0), torch.ones(2))


def test_step_order_places_micro_batches_and_ranks_at_their_global_positions():
    # 2 micro-batches × 2 ranks × 2 rows: rank r row t of micro-batch j is position (2j + t)·2 + r
    feats = [torch.tensor([0, 2, 1, 3]), torch.tensor([4, 6, 5, 7])]  # rank-ordered: [r0t0, r0t1, r1t0, r1t1]
    assert step_order(feats, world=2).tolist() == list(range(8))
    assert step_rows(1, 2, 2, 1).tolist() == [5, 7] and step_rows(0, 2, 1, 0).tolist() == [0, 1]
    assert step_order([torch.arange(3), torch.arange(3, 6)], world=1).tolist() == list(range(6))


# -- configuration ---------------------------------------------------------------------------
def test_config_errors_are_clear(tmp_path, data_dir):
    with pytest.raises(ConfigError, match="queue_size = 5 must be a multiple of loop.batch_size = 2"):
        experiment(tmp_path, data_dir, "bad", overrides=["training.queue_size=5"])
    with pytest.raises(ConfigError, match="loss_type: must be one of am_softmax, arc_softmax, softmax, got 'cosface'"):
        experiment(tmp_path, data_dir, "bad2", extra='loss_type = "cosface"\n')
    exp = experiment(tmp_path, data_dir, "head", head='\n[head]\nname = "arcface"\n')
    with pytest.raises(ConfigError, match="does not use a head"):
        run(exp)
    # also before a [[prepare]] step has written the data the head's class count would come from
    exp = experiment(tmp_path, tmp_path / "not_written_yet", "head2", head='\n[head]\nname = "arcface"\n')
    with pytest.raises(ConfigError, match="does not use a head"):
        run(exp)
    exp = experiment(tmp_path, data_dir, "defaults", extra="[training.optimizer]\nlr = 0.05\n")
    assert exp.training.config.optimizer.weight_decay == 5e-4, "SST defaults survive a partial table"
    assert exp.training.config.loop.epochs == 2 and exp.training.config.schedule.milestones == (1,)


# -- whole runs ------------------------------------------------------------------------------
def test_two_epoch_run_finishes(full_run):
    exp, res = full_run
    assert res.finished and res.epochs_done == 2 and res.global_step == 6 + 4
    assert math.isfinite(res.loss) and 0.0 <= res.accuracy <= 1.0
    ckpt = last(exp)
    assert ckpt["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.01)  # milestone at epoch 1
    assert ckpt["optimizer"]["param_groups"][0]["weight_decay"] == pytest.approx(5e-4)
    assert ckpt["components"]["training"]["distribution"] == "facex-mode-sst" and "head" not in ckpt["components"]
    assert (exp.output_dir / "checkpoints" / "epoch_1.pt").exists()
    assert list(exp.output_dir.glob("tb/events.out.tfevents.*"))
    # epoch 2 sampled none of the identities the queue held when it started
    excluded = set(last(exp, "epoch_1")["model"]["prototype.labels"].tolist())
    assert set(ckpt["mode_state"]["excluded"].tolist()) == excluded and len(excluded) == 4
    assert not set(ckpt["model"]["prototype.labels"].tolist()) & excluded
    # the core's evaluation rebuilds the experiment from the checkpoint and loads the probe network
    again = Experiment.from_checkpoint(exp.output_dir / "checkpoints" / "last.pt", full=True)
    assert again.training.name == "sst" and again.training.config == exp.training.config
    fresh = again.build_backbone()
    load_backbone_weights(fresh, exp.output_dir / "checkpoints" / "last.pt")
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, ckpt["model"]["backbone." + k]), k


def test_resume_after_interruption_is_bit_exact(tmp_path, data_dir, full_run):
    full, _ = full_run
    part = experiment(tmp_path, data_dir, "part", max_steps=7)  # mid-epoch 2 (6 + 4 steps)
    res = run(part)
    assert not res.finished and res.global_step == 7
    resumed = experiment(tmp_path, data_dir, "part")
    res = run(resumed, resume=True)
    assert res.finished and res.global_step == 10
    a, b = last(full), last(resumed)
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert torch.equal(sa["momentum_buffer"], sb["momentum_buffer"])
    assert torch.equal(a["mode_state"]["excluded"], b["mode_state"]["excluded"])


def test_loader_workers_do_not_change_the_result(tmp_path, data_dir):
    exps = [experiment(tmp_path, data_dir, f"w{w}", max_steps=2, workers=w) for w in (0, 2)]
    for exp in exps:
        run(exp)
    a, b = (last(e)["model"] for e in exps)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_rejects_a_missing_or_foreign_checkpoint(tmp_path, data_dir):
    exp = experiment(tmp_path, data_dir, "none")
    with pytest.raises(ConfigError, match="no checkpoint"):
        run(exp, resume=True)
    trainer = exp.build_training_mode().build(exp)
    payload = trainer.state()
    del payload["mode_state"]
    from facex_core import save_checkpoint

    save_checkpoint(tmp_path / "foreign.pt", payload)
    with pytest.raises(ValueError, match="not an SST checkpoint"):
        trainer.restore(tmp_path / "foreign.pt")


def test_bf16_channels_last_and_clipping_run_on_cpu(tmp_path, data_dir):
    exp = experiment(tmp_path, data_dir, "bf16", max_steps=1, overrides=[
        "training.loop.amp=bf16", "training.loop.channels_last=true", "training.loop.clip_grad_norm=1.0",
        "experiment.device=cpu"])
    res = run(exp)
    assert res.global_step == 1 and res.skipped_steps == 0 and math.isfinite(res.loss)
    fp16 = experiment(tmp_path, data_dir, "fp16", overrides=["training.loop.amp=fp16", "experiment.device=cpu"])
    with pytest.raises(ValueError, match="fp16' needs CUDA"):
        run(fp16)


# -- the core engine's features under SST ----------------------------------------------------
def tiny_net():
    """A BN-free backbone (all SST needs is a module with input_size and embedding_size): micro-batches
    and ranks then compute exactly what one big batch does."""
    net = nn.Sequential(nn.Conv2d(3, 4, 3, 2, 1), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 8 * 8, 8))
    net.input_size, net.embedding_size = (16, 16), 8
    return net


def build(tmp_path, data_dir, out, overrides=(), tiny=True):
    exp = experiment(tmp_path, data_dir, out, overrides=list(overrides))
    if tiny:
        exp.build_backbone = tiny_net
    return exp.build_training_mode().build(exp)


def assert_same_state(a, b, keys=None, exact=False):
    for k in keys or a:
        if exact or not a[k].is_floating_point():
            assert torch.equal(torch.as_tensor(a[k]), torch.as_tensor(b[k])), k
        else:
            torch.testing.assert_close(torch.as_tensor(a[k]), torch.as_tensor(b[k]), atol=1e-6, rtol=1e-5, msg=k)


def test_gradient_accumulation_equals_one_big_batch(tmp_path, data_dir):
    # batch 4 of 12 identities, queue 4: epochs of 3 and 2 steps, the second with exclusion
    over = ["training.loop.batch_size=4", "training.queue_size=4"]
    one = build(tmp_path, data_dir, "acc1", over)
    two = build(tmp_path, data_dir, "acc2", over + ["training.loop.grad_accumulation=2"])
    assert two.micro_batch == 2
    r1, r2 = one.fit(), two.fit()
    assert r1.global_step == r2.global_step == 5 and r2.finished
    a, b = one.model.state_dict(), two.model.state_dict()
    assert any(k.startswith("gallery.") for k in a) and int(a["prototype.pointer"]) == 4 - 4
    assert_same_state(a, b)
    assert torch.equal(one.mode.excluded, two.mode.excluded) and one.mode.excluded.numel() == 4


def test_records_give_the_same_run_as_the_image_list(tmp_path, data_dir):
    jpg = tmp_path / "jpg"  # packing keeps JPEG bytes as they are (other formats are re-encoded)
    lines = []
    for line in (data_dir / "list.txt").read_text().split("\n"):
        if line:
            rel, label = line.split()
            out = jpg / "images" / rel.replace(".png", ".jpg")
            out.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out), cv2.imread(str(data_dir / "images" / rel)))
            lines.append(f"{rel.replace('.png', '.jpg')} {label}")
    (jpg / "list.txt").write_text("\n".join(lines) + "\n")
    # packed with the public command line (the core's pack function is not public API)
    assert facex_core.main(["data", "pack", str(jpg / "images"), str(tmp_path / "rec"),
                            "--train-list", str(jpg / "list.txt"), "--workers", "0"]) == 0
    listed = experiment(tmp_path, jpg, "listed", max_steps=4)
    packed = experiment(tmp_path, jpg, "packed", max_steps=4,
                        overrides=['data.format="recordio"', f'data.root="{tmp_path / "rec"}"'])
    assert run(listed).global_step == run(packed).global_step == 4
    assert_same_state(last(listed)["model"], last(packed)["model"], exact=True)


def _sst_rank(rank, world, init_file, tmp, data_dir, tiny, queue):
    import os

    import torch.distributed as dist

    os.environ["FACEX_NO_PROGRESS"] = "1"
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    trainer = build(tmp, data_dir, f"ddp{tiny}-{rank}", DDP_OVERRIDES, tiny=tiny)
    assert trainer.world == 2 and trainer.micro_batch == 2
    trainer.fit()
    queue.put((rank, {k: v.detach().numpy().copy() for k, v in trainer.model.state_dict().items()},
               [k for k, _ in trainer.model.named_parameters()]))
    dist.destroy_process_group()


DDP_OVERRIDES = ["training.loop.batch_size=4", "training.queue_size=8", "training.loop.max_steps=2"]


@pytest.mark.parametrize("tiny", [True, False])
def test_two_gloo_processes_take_the_same_steps_as_one(tmp_path, data_dir, tiny):
    single = build(tmp_path, data_dir, f"single{tiny}", DDP_OVERRIDES, tiny=tiny)
    single.fit()
    want = single.model.state_dict()
    queue = mp.get_context("spawn").Queue()
    ranks = mp.start_processes(_sst_rank, (2, str(tmp_path / "store"), tmp_path, data_dir, tiny, queue), nprocs=2,
                               join=False, start_method="spawn")
    results = sorted(collect_results(queue, ranks.processes), key=lambda r: r[0])
    (s0, params), s1 = [({k: torch.from_numpy(v) for k, v in r[1].items()}, r[2]) for r in results]
    s1 = s1[0]
    queue_keys = ["prototype.queue", "prototype.labels", "prototype.pointer"]
    assert_same_state(s0, s1, params + queue_keys, exact=True)  # the ranks agree on weights and queue
    assert torch.equal(s0["prototype.labels"], want["prototype.labels"]) and int(s0["prototype.pointer"]) == 8 % 8
    if tiny:  # without batch statistics two ranks compute exactly what one process does
        assert_same_state(want, s0)


def test_compile_wraps_probe_and_gallery_and_keeps_plain_checkpoint_keys(tmp_path, data_dir):
    trainer = build(tmp_path, data_dir, "compiled", ["training.loop.compile=true"])  # compiled lazily: cheap
    assert trainer.forward_model._orig_mod is trainer.model
    assert trainer.mode._gallery._orig_mod is trainer.model.gallery
    assert all(k.split(".")[0] in ("backbone", "gallery", "prototype") for k in trainer.state()["model"])


# -- the packaged shallow-data demo ----------------------------------------------------------
needs_synthetic = pytest.mark.skipif("synthetic" not in installed("dataset"),
                                     reason="sst_shallow.toml's [[prepare]] step needs facex-data-synthetic "
                                            "(pip install -e 'plugins/modes/sst[test]')")


@needs_synthetic
def test_shallow_demo_config_is_found_by_name_and_a_local_file_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exp = Experiment.from_file("sst_shallow.toml")
    assert Path(exp.source) == Path(facex_mode_sst.__file__).with_name("sst_shallow.toml")
    assert exp.training.name == "sst" and not exp.has_head
    (step,) = exp.prepare
    assert step.name == "synthetic" and step.config.shallow and step.config.output == "runs/sst_shallow/data"
    (tmp_path / "sst_shallow.toml").write_text('[experiment]\nname = "mine"\n')
    assert Experiment.from_file("sst_shallow.toml").name == "mine"


@needs_synthetic
def test_shallow_demo_trains_on_its_prepared_two_image_identities(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEX_NO_PROGRESS", "1")
    data = tmp_path / "data"
    exp = Experiment.from_file("sst_shallow.toml", [
        f"experiment.output_dir={tmp_path / 'run'}", "experiment.threads=1", f"prepare.0.output={data}",
        "prepare.0.train_identities=8", "prepare.0.test_identities=20", "prepare.0.test_images_per_identity=2",
        "prepare.0.pairs_per_fold=4", f"data.root={data / 'train/images'}",
        f"data.train_list={data / 'train/train_list.txt'}", "data.num_workers=0", "backbone.input_size=[32, 32]",
        "training.queue_size=4", "training.loop.batch_size=2", "training.loop.epochs=1", "training.loop.max_steps=2",
        "training.loop.log_every=1", "training.schedule.milestones=[1]"])
    (summary,) = exp.prepare_data(workers=0)
    assert summary["train_images"] == 16  # shallow: two images per training identity
    result = run(exp)
    assert result.global_step == 2 and math.isfinite(result.loss)
