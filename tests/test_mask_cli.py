"""`facex-core data mask`, `mask list|template|sheet` and `demo --masked` from the command line.

The fast tests use the test double tests/doubles/fakeplug_stripes.py registered as mask_adder `stripes`; the
FMA-3D end-to-end tests run only where plugins/masks/fma3d is installed.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from facex_core.cli.main import main
from fakeplug_stripes import face, write_folder  # tests/doubles (pytest pythonpath)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
STRIPES = ["--set", "mask_adder.name=stripes"]


@pytest.fixture
def stripes(mask_double):
    return mask_double


def fma3d_installed() -> bool:
    from facex_core.plugin_api.registry import registry, reset_registry

    reset_registry()
    names = registry().names
    return "fma3d" in names("mask_adder") and "mediapipe_mesh" in names("landmarker")


needs_fma3d = pytest.mark.skipif(not fma3d_installed(),
                                 reason="mask_adder fma3d (plugins/masks/fma3d) or its MediaPipe mesh not installed")


def test_data_mask_command_applies_set_options_and_prints_the_summary(tmp_path, stripes, capsys):
    rels = write_folder(tmp_path / "src", ids=2, per_id=2)
    code = main(["data", "mask", str(tmp_path / "src"), str(tmp_path / "out"), "--aligned", "--workers", "0",
                 "--template", "blue", *STRIPES, "--set", "mask_adder.start=0.25"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["masked"] == 4 and summary["templates"] == {"blue": 4}
    assert summary["job"]["adder_config"]["start"] == 0.25
    row = json.loads((tmp_path / "out" / "mask_log.jsonl").read_text().splitlines()[0])
    masked = cv2.imread(str(tmp_path / "out" / rels[0]))
    top = 28 + row["params"]["shift"]  # 0.25 x 112 rows, then the seeded shift
    assert np.abs(masked[top + 4:].astype(int) - (200, 90, 30)).max() < 16
    assert np.abs(masked[:top - 4].astype(int) - cv2.imread(str(tmp_path / "src" / rels[0]))[:top - 4]).mean() < 8


def test_unknown_adder_key_and_missing_adder_are_clear_errors(tmp_path, stripes, capsys):
    write_folder(tmp_path / "src", ids=1, per_id=1)
    assert main(["data", "mask", str(tmp_path / "src"), str(tmp_path / "out"), *STRIPES,
                 "--set", "mask_adder.colour=red"]) == 2
    assert "colour" in capsys.readouterr().err
    assert main(["mask", "list", "--set", "mask_adder.name=nosuch"]) == 2
    err = capsys.readouterr().err
    assert "no mask_adder named 'nosuch'" in err
    assert ("plugins/masks/fma3d" in err) == ("fma3d" not in err.split("installed:")[1])


def test_mask_list_prints_the_templates(stripes, capsys):
    assert main(["mask", "list", *STRIPES]) == 0
    assert capsys.readouterr().out.split() == ["black", "blue", "white"]


def test_mask_template_writes_a_bgra_png_and_says_how_to_use_it(tmp_path, stripes, capsys):
    rng = np.random.default_rng(3)
    cv2.imwrite(str(tmp_path / "photo.jpg"), face(rng, 200))
    matte = np.zeros((200, 200), np.uint8)
    matte[120:] = 255
    cv2.imwrite(str(tmp_path / "matte.png"), matte)
    assert main(["mask", "template", str(tmp_path / "photo.jpg"), str(tmp_path / "matte.png"),
                 str(tmp_path / "mine.png"), *STRIPES]) == 0
    out = capsys.readouterr().out
    texture = cv2.imread(str(tmp_path / "mine.png"), cv2.IMREAD_UNCHANGED)
    assert texture.shape == (256, 256, 4) and texture[:, :, 3].mean() == pytest.approx(255 * 80 / 200, abs=3)
    assert f"wrote {tmp_path / 'mine.png'}: 256x256 BGRA" in out and "mask_adder.extra_templates=" in out
    assert main(["mask", "list", *STRIPES, "--set", f'mask_adder.extra_templates=["{tmp_path / "mine.png"}"]']) == 0
    assert capsys.readouterr().out.split()[-1] == "mine"


def test_mask_sheet_is_a_grid_of_originals_and_templates(tmp_path, stripes, capsys):
    rng = np.random.default_rng(4)
    cv2.imwrite(str(tmp_path / "a.jpg"), face(rng, 300))
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((80, 120, 3), 50, np.uint8))
    (tmp_path / "crops").mkdir()
    cv2.imwrite(str(tmp_path / "crops" / "c.jpg"), face(rng))
    assert main(["mask", "sheet", str(tmp_path / "sheet.png"), str(tmp_path / "a.jpg"), str(tmp_path / "blank.png"),
                 "--crops", str(tmp_path / "crops"), "--cell", "64", *STRIPES]) == 0
    assert "3 rows (original | black | blue | white), 6/9 cells masked" in capsys.readouterr().out
    sheet = cv2.imread(str(tmp_path / "sheet.png"))
    assert sheet.shape == (24 + 3 * (64 + 24 + 4), 4 * (64 + 4) + 4, 3)
    crop_row = sheet[24 + 2 * 92:24 + 2 * 92 + 64]
    assert np.abs(crop_row[50:, 4 + 68 + 10:4 + 68 + 54].astype(int) - (20, 20, 20)).max() < 16  # black column


def test_masked_demo_trains_and_reports_both_accuracies(tmp_path, stripes, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    tiny = ["--set", "synthetic.train_identities=12", "--set", "synthetic.train_images_per_identity=3",
            "--set", "synthetic.test_identities=20", "--set", "synthetic.test_images_per_identity=2",
            "--set", "synthetic.pairs_per_fold=4", "--set", "training.loop.epochs=1",
            "--set", "training.loop.batch_size=24", "--set", "data.num_workers=0",
            "--set", "evaluation.num_workers=0", "--set", "backbone.embedding_size=32",
            "--set", "backbone.input_size=[32,32]"]
    assert main(["demo", "--masked", "--workers", "0", *tiny, "--mask-set", "mask_adder.name=stripes"]) == 0
    out = capsys.readouterr().out
    assert "one side masked: untrained" in out and "[4/4]" in out
    data = tmp_path / "runs" / "demo_masked" / "data"
    lines = (data / "train_masked" / "train_list.txt").read_text().splitlines()
    assert len(lines) == 2 * 12 * 3 and lines[1] == "id_00000/0000_masked.jpg 0"
    pairs = (data / "test_one_masked" / "pairs.txt").read_text().splitlines()
    assert len(pairs) == 1 + 40 and all(int(p.split()[-1]) > 1000 for p in pairs[1:])


@needs_fma3d
def test_fma3d_masks_aligned_crops_of_the_shared_photos(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEX_NO_PROGRESS", "1")
    crop = SHARED / "facexzoo-sdk" / "test1_cropped.jpg"
    if not crop.is_file():
        pytest.skip("../shared/data/facexzoo-sdk/test1_cropped.jpg not available")
    src = tmp_path / "src" / "person"
    src.mkdir(parents=True)
    img = cv2.resize(cv2.imread(str(crop)), (112, 112))
    cv2.imwrite(str(src / "a.jpg"), img)
    cv2.imwrite(str(src / "b.jpg"), cv2.flip(img, 1))
    for workers in ("0", "2"):
        assert main(["data", "mask", str(tmp_path / "src"), str(tmp_path / f"out{workers}"), "--aligned",
                     "--workers", workers]) == 0
    summary = json.loads((tmp_path / "out0" / "mask_summary.json").read_text())
    assert summary["masked"] == 2
    for name in ("a.jpg", "b.jpg"):
        a = (tmp_path / "out0" / "person" / name).read_bytes()
        assert a == (tmp_path / "out2" / "person" / name).read_bytes()
        masked = cv2.imread(str(tmp_path / "out0" / "person" / name)).astype(int)
        original = cv2.imread(str(src / name)).astype(int)
        assert np.abs(masked[75:100, 35:77] - original[75:100, 35:77]).mean() > 15  # mouth region covered
        assert np.abs(masked[30:50, 25:87] - original[30:50, 25:87]).mean() < 8  # eyes untouched


@needs_fma3d
def test_fma3d_sheet_on_the_shared_photos(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FACEX_NO_PROGRESS", "1")
    from facex_core.apps.mask_cli import default_sheet_photos

    if not default_sheet_photos():
        pytest.skip("../shared/data/photos not available")
    assert main(["mask", "sheet", str(tmp_path / "sheet.png"), "--max-templates", "2", "--cell", "96"]) == 0
    out = capsys.readouterr().out
    assert "rows (original |" in out and cv2.imread(str(tmp_path / "sheet.png")) is not None
