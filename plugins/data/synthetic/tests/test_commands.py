"""Registration, the ``[[prepare]]`` step, ``data synth``, the packaged ``demo.toml`` and ``demo`` end to end."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import facex_core
import facex_data_synthetic
from facex_core.testing import assert_light_module, installed
from facex_data_synthetic.generate import generate

PACKAGED = Path(facex_data_synthetic.__file__).with_name("demo.toml")
TINY_SET = ["train_identities=6", "train_images_per_identity=3", "test_identities=6",
            "test_images_per_identity=3", "pairs_per_fold=4", "folds=3"]
DEMO_PLUGINS = [("backbone", "mobilefacenet"), ("head", "arcface"), ("training_mode", "conventional"),
                ("protocol", "lfw")]


def _sets(*values: str) -> list[str]:
    return [a for v in values for a in ("--set", v)]


def test_registration_and_command_modules_are_light() -> None:
    for module in ("facex_data_synthetic.plugin", "facex_data_synthetic.synth", "facex_data_synthetic.demo"):
        assert_light_module(module)
    assert installed("dataset", distribution="facex-data-synthetic") == ["synthetic"]
    assert facex_core.registry().packaged_config("demo.toml") == str(PACKAGED)


def test_prepare_step_draws_the_set_once(tiny_config, files, tmp_path: Path) -> None:
    out = tmp_path / "data"
    exp = facex_core.Experiment({"prepare": [{"name": "synthetic", "output": str(out),
                                              **{k: int(v) for k, v in (s.split("=") for s in TINY_SET)}}]},
                                source="test.toml")
    seen = []
    first = exp.prepare_data(workers=0, log=lambda maker: seen.append(maker.describe()))
    assert seen == [f"synthetic faces -> {out}  (SYNTHETIC cartoon faces: a smoke test, not a benchmark)"]
    assert first[0]["rendered"] == 36 and json.dumps(first)  # a JSON-serialisable summary
    assert exp.prepare_data(workers=0)[0]["rendered"] == 0  # idempotent
    generate(tiny_config, tmp_path / "direct")
    assert files(out) == files(tmp_path / "direct")
    with pytest.raises(facex_core.ConfigError, match=r"prepare\[0\].*nope"):
        facex_core.Experiment({"prepare": [{"name": "synthetic", "nope": 1}]}, source="test.toml")


def test_data_synth_writes_refuses_another_config_and_overwrites(cli, tmp_path: Path) -> None:
    out = tmp_path / "synth"
    res = cli("data", "synth", str(out), *_sets(*TINY_SET), "--workers", "0")
    assert res.returncode == 0, res.stderr[-3000:]
    info = json.loads(res.stdout)
    assert info["train_images"] == "18" and info["rendered"] == "36" and Path(info["pairs_file"]).is_file()
    res = cli("data", "synth", str(out), *_sets(*TINY_SET, "seed=4"), "--workers", "0")
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "seed: 0 there, 4 now" in res.stderr and "--overwrite" in res.stderr
    res = cli("data", "synth", str(out), *_sets(*TINY_SET, "seed=4"), "--workers", "0", "--overwrite")
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads(res.stdout)["rendered"] == "36"
    res = cli("data", "synth", str(out), *_sets("nope=1"))
    assert res.returncode == 2 and "nope: unknown key" in res.stderr


def test_demo_config_is_found_by_name_from_any_directory_and_a_local_file_wins(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    exp = facex_core.Experiment.from_file("demo.toml")
    assert Path(exp.source) == PACKAGED
    assert [p.name for p in exp.prepare] == ["synthetic"]
    assert exp.prepare[0].config.output == "runs/demo/data" and exp.prepare[0].config.train_identities == 200
    (tmp_path / "demo.toml").write_text('[experiment]\nname = "mine"\n')
    assert facex_core.Experiment.from_file("demo.toml").name == "mine"
    assert not (tmp_path / "runs").exists()  # reading a config writes nothing


def test_masked_demo_without_its_config_says_what_to_install(cli) -> None:
    if facex_core.registry().packaged_config("demo_masked.toml") is not None:
        pytest.skip("a distribution ships demo_masked.toml here")
    res = cli("demo", "--masked")
    assert res.returncode == 2 and "facex-masks" in res.stderr and res.stderr.count("\n") == 1


def test_demo_runs_end_to_end_on_a_tiny_synthetic_set(cli, tmp_path: Path) -> None:
    missing = [f"{kind} {name}" for kind, name in DEMO_PLUGINS if name not in installed(kind)]
    if missing:
        pytest.skip(f"demo.toml needs {', '.join(missing)} (pip install -e 'plugins/data/synthetic[test]')")
    pytest.importorskip("onnxruntime", reason="export onnx needs onnxruntime (the test extra)")
    sets = ["experiment.output_dir=" + str(tmp_path / "demo"), "prepare.0.output=" + str(tmp_path / "data"),
            "data.root=" + str(tmp_path / "data/train/images"),
            "data.train_list=" + str(tmp_path / "data/train/train_list.txt"),
            "evaluation.protocols.0.pairs_file=" + str(tmp_path / "data/test/pairs.txt"),
            "evaluation.protocols.0.image_root=" + str(tmp_path / "data/test/images"),
            "prepare.0.train_identities=6", "prepare.0.train_images_per_identity=4", "prepare.0.test_identities=20",
            "prepare.0.test_images_per_identity=2", "prepare.0.pairs_per_fold=4", "training.loop.epochs=1",
            "training.loop.batch_size=8", "backbone.input_size=[32, 32]", "data.num_workers=0"]
    res = cli("demo", *_sets(*sets), "--workers", "0")
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"[1/3] synthetic faces -> {tmp_path / 'data'}  (SYNTHETIC" in res.stdout
    assert "[2/3] training mobilefacenet + arcface (conventional)" in res.stdout
    assert "| untrained |" in res.stdout and "| trained |" in res.stdout
    assert "lfw accuracy: untrained " in res.stdout and "  ->  trained " in res.stdout
    for name in ("results.md", "results.csv", "results.json", "lfw_roc.png"):
        assert (tmp_path / "demo" / "eval" / name).exists()
    ckpt = tmp_path / "demo" / "checkpoints" / "last.pt"
    res = cli("evaluate", str(ckpt))  # the checkpoint's embedded config is enough
    assert res.returncode == 0, res.stderr[-3000:]
    assert "| demo |" in res.stdout  # labelled with the run name the checkpoint records
    res = cli("export", "onnx", str(ckpt), str(tmp_path / "model.onnx"), "--exporter", "legacy")
    assert res.returncode == 0, res.stdout + res.stderr[-3000:]
    assert "min cosine 1.0000" in res.stdout or "min cosine 0.9999" in res.stdout
    # one TOML lists several models (an ensemble among them): one table row each
    shown = cli("config", "show", "demo.toml", *_sets(*sets))
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "[[prepare]]" in shown.stdout
    cfg = tmp_path / "models.toml"
    cfg.write_text(shown.stdout + '\n[[evaluation.models]]\nlabel = "untrained"\ncheckpoints = ["none"]\n'
                   '\n[[evaluation.models]]\nlabel = "ensemble"\ncheckpoints = ["last", "' + str(ckpt) + '"]\n')
    res = cli("evaluate", str(cfg))
    assert res.returncode == 0, res.stderr[-3000:]
    assert "| untrained |" in res.stdout and "| ensemble |" in res.stdout
