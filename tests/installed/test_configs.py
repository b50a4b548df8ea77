"""Every recipe in configs/ loads (``facex-core config show``, which reads no data), and the ported ones
carry their source's numbers: InsightFace arcface_torch's configs (per-GPU batch × 8 GPUs = FaceX's global
batch; PolyScheduler) and FaceX-Zoo's train.sh / head_conf.yaml."""
import tomllib
from pathlib import Path

import pytest

import facex_core

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.toml"))

#: The source recipes' values (arcface_torch configs/*.py and train_v2.py; FaceX-Zoo train.sh, head_conf.yaml).
REFERENCE = {
    "ms1mv3_r50.toml": {"backbone.name": "iresnet50", "backbone.embedding_size": 512, "head.name": "arcface",
                        "head.scale": 64.0, "head.margin": 0.5, "head.classifier.sample_rate": 1.0,
                        "training.loop.batch_size": 128 * 8, "training.optimizer.lr": 0.2,
                        "training.optimizer.momentum": 0.9, "training.optimizer.weight_decay": 5e-4,
                        "training.loop.epochs": 25, "training.schedule.warmup_epochs": 2.0,
                        "training.loop.amp": "fp16", "training.loop.clip_grad_norm": 5.0,
                        "training.loop.validate_every": 2000, "data.format": "recordio", "data.channels": "RGB",
                        "data.mean": 127.5, "data.std": 127.5, "experiment.seed": 2048},
    "glint360k_r100.toml": {"backbone.name": "iresnet100", "head.name": "cosface", "head.scale": 64.0,
                            "head.margin": 0.4, "head.classifier.sample_rate": 1.0,
                            "training.loop.batch_size": 128 * 8, "training.optimizer.lr": 0.1,
                            "training.optimizer.weight_decay": 1e-4, "training.loop.epochs": 20,
                            "training.schedule.warmup_epochs": 0.0, "data.channels": "RGB", "data.std": 127.5},
    "webface42m_r50_pfc02.toml": {"backbone.name": "iresnet50", "head.name": "cosface", "head.margin": 0.4,
                                  "head.classifier.sample_rate": 0.2, "training.loop.batch_size": 512 * 8,
                                  "training.optimizer.lr": 0.4, "training.optimizer.weight_decay": 5e-4,
                                  "training.loop.epochs": 20, "training.schedule.warmup_epochs": 2.0},
    "mobilefacenet_arcface_ms1m.toml": {"backbone.name": "mobilefacenet", "backbone.embedding_size": 512,
                                        "head.name": "arcface", "head.scale": 32.0, "head.margin": 0.35,
                                        "training.loop.batch_size": 512, "training.loop.epochs": 18,
                                        "training.schedule.milestones": [10, 13, 16], "training.optimizer.lr": 0.1,
                                        "training.optimizer.weight_decay": 1e-4, "data.channels": "BGR",
                                        "data.std": 128.0, "evaluation.flip": "none"},
}


def value(tree, key):
    for part in key.split("."):
        tree = tree[part]
    return tree


def needed_components(path):
    data = tomllib.loads(path.read_text())
    names = [("backbone", data["backbone"]["name"]), ("training_mode", data["training"]["name"])]
    names += [("head", data["head"]["name"])] if "head" in data else []
    return names + [("protocol", p["name"]) for p in data.get("evaluation", {}).get("protocols", [])]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_config_loads_with_config_show(path, cli):
    missing = [f"{kind} {name}" for kind, name in needed_components(path)
               if name not in facex_core.registry().names(kind)]
    if missing:
        pytest.skip(f"plugins not installed: {', '.join(missing)}")
    res = cli("config", "show", str(path))
    assert res.returncode == 0, res.stderr
    resolved = tomllib.loads(res.stdout)
    for key, expected in REFERENCE.get(path.name, {}).items():
        assert value(resolved, key) == expected, (key, value(resolved, key), expected)


def test_every_ported_recipe_is_checked():
    assert set(REFERENCE) <= {p.name for p in CONFIGS}


def test_the_ms1mv3_schedule_is_insightfaces_polyscheduler():
    """FaceX's poly schedule at fractional epochs equals arcface_torch's per-step PolyScheduler:
    lr = base·step/warmup during warm-up, then base·(1 − (step − warmup)/(total − warmup))²."""
    data = tomllib.loads((CONFIGS[0].parent / "ms1mv3_r50.toml").read_text())
    schedule = facex_core.structure_config(facex_core.ScheduleConfig, data["training"]["schedule"])
    base, epochs = data["training"]["optimizer"]["lr"], data["training"]["loop"]["epochs"]
    per_epoch = 5_179_510 // data["training"]["loop"]["batch_size"]  # num_image // total_batch_size
    warmup, total = per_epoch * 2, per_epoch * epochs
    for step in (1, 100, warmup - 1, warmup, warmup + 1, total // 2, total - 1):
        reference = base * step / warmup if step < warmup else base * (1 - (step - warmup) / (total - warmup)) ** 2
        assert schedule.lr(base, step / per_epoch, epochs) == pytest.approx(reference, rel=1e-9, abs=1e-12)
