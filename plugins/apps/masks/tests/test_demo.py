"""The masked demo: `facex-core demo --masked` runs this plugin's packaged demo_masked.toml, whose
[[prepare]] steps draw the synthetic faces (facex-data-synthetic), mask the training list (mode both) and
the test crops, and build the one-side-masked pairs; then it trains and reports both accuracies."""
from __future__ import annotations

from pathlib import Path

import pytest

import facex_core
from facex_core.testing import installed, reset_registry

#: What demo_masked.toml needs beyond this plugin (the test extra installs them).
DEMO_PLUGINS = [("dataset", "synthetic"), ("backbone", "mobilefacenet"), ("head", "arcface"),
                ("training_mode", "conventional"), ("protocol", "lfw")]
STRIPES = ["--set", "prepare.1.mask_adder.name=stripes", "--set", "prepare.2.mask_adder.name=stripes"]


def _sets(*items: str) -> list[str]:
    return [arg for item in items for arg in ("--set", item)]


def test_demo_masked_is_packaged_and_its_prepare_steps_are_makers(tmp_path, monkeypatch, mask_double):
    if "synthetic" not in installed("dataset"):
        pytest.skip("dataset synthetic (facex-data-synthetic) not installed")
    monkeypatch.chdir(tmp_path)
    exp = facex_core.Experiment.from_file("demo_masked.toml", STRIPES[1::2])
    import facex_masks

    # found by name from any directory: the installed package's file (the source tree's when editable)
    packaged = Path(facex_masks.__file__).resolve().parent / "demo_masked.toml"
    assert exp.source.startswith(str(packaged))
    assert [p.name for p in exp.prepare] == ["synthetic", "masked_copy", "masked_copy", "one_side_masked_pairs"]
    train, test = exp.prepare[1].config, exp.prepare[2].config
    assert (train.mode, train.seed, train.aligned, test.mode, test.seed, test.aligned) == ("both", 0, None,
                                                                                           "masked", 1, True)
    assert train.dst == Path(exp.data.root).as_posix() and exp.data.train_list == f"{train.dst}/train_list.txt"
    shown = facex_core.to_toml(exp.resolved())
    assert '[[prepare]]\nname = "masked_copy"' in shown and '[prepare.mask_adder]\nname = "stripes"' in shown
    assert not (tmp_path / "runs").exists()  # reading a config writes nothing


def test_masked_copy_step_names_the_config_and_key_of_a_bad_adder_setting(tmp_path, mask_double, monkeypatch):
    (tmp_path / "exp.toml").write_text('[[prepare]]\nname = "masked_copy"\nsrc = "a"\ndst = "b"\n'
                                       '[prepare.mask_adder]\nname = "stripes"\ncolour = "red"\n')
    with pytest.raises(facex_core.ConfigError, match=r"exp.toml: prepare\[0\]: mask_adder.colour: unknown key"):
        facex_core.Experiment.from_file(tmp_path / "exp.toml")
    monkeypatch.setenv("FACEX_DISABLE_PLUGINS", "facex-mask-fma3d")  # as if FMA-3D were not installed
    reset_registry()
    (tmp_path / "exp.toml").write_text('[[prepare]]\nname = "masked_copy"\nsrc = "a"\ndst = "b"\n')
    with pytest.raises(facex_core.ConfigError, match=r"exp.toml: prepare\[0\]: mask_adder 'fma3d' is not "
                                                     r"installed: pip install facex-mask-fma3d .*prepare.N.mask_"):
        facex_core.Experiment.from_file(tmp_path / "exp.toml")
    (tmp_path / "exp.toml").write_text('[[prepare]]\nname = "one_side_masked_pairs"\npairs_file = "p.txt"\n')
    with pytest.raises(facex_core.ConfigError, match=r"prepare\[0\].image_root: required key missing"):
        facex_core.Experiment.from_file(tmp_path / "exp.toml")


def test_masked_demo_trains_and_reports_both_accuracies(tmp_path, mask_double, monkeypatch, capsys):
    missing = [f"{kind} {name}" for kind, name in DEMO_PLUGINS if name not in installed(kind)]
    if missing:
        pytest.skip(f"demo_masked.toml needs {', '.join(missing)} (pip install -e 'plugins/apps/masks[test]')")
    monkeypatch.chdir(tmp_path)
    tiny = _sets("prepare.0.train_identities=12", "prepare.0.train_images_per_identity=3",
                 "prepare.0.test_identities=20", "prepare.0.test_images_per_identity=2", "prepare.0.pairs_per_fold=4",
                 "training.loop.epochs=1", "training.loop.batch_size=24", "data.num_workers=0",
                 "evaluation.num_workers=0", "backbone.embedding_size=32", "backbone.input_size=[32,32]")
    assert facex_core.main(["demo", "--masked", "--workers", "0", *tiny, *STRIPES]) == 0
    out = capsys.readouterr().out
    assert "[2/6] masked copy (both, mask_adder stripes): runs/demo_masked/data/train/images" in out
    assert "[4/6] one-side-masked pairs: " in out and "[6/6]" in out
    assert "lfw accuracy: untrained " in out and "lfw_one_masked accuracy: untrained " in out
    data = tmp_path / "runs" / "demo_masked" / "data"
    lines = (data / "train_masked" / "train_list.txt").read_text().splitlines()
    assert len(lines) == 2 * 12 * 3 and lines[1] == "id_00000/0000_masked.jpg 0"
    pairs = (data / "test_one_masked" / "pairs.txt").read_text().splitlines()
    assert len(pairs) == 1 + 40 and all(int(p.split()[-1]) > 1000 for p in pairs[1:])
