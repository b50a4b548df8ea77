"""`facex-core data mask` and `mask list|template|sheet` from the command line (`demo --masked`: test_demo.py).

The fast tests use the test double doubles/fakeplug_stripes.py registered as mask_adder `stripes`; the
FMA-3D end-to-end tests run only where plugins/masks/fma3d is installed and the shared photos are there.
"""
from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest

import facex_core
from facex_core import main
from facex_core.testing import reset_registry
from fakeplug_stripes import face, write_folder  # doubles/ (on sys.path: conftest.py)

STRIPES = ["--set", "mask_adder.name=stripes"]


@pytest.fixture
def stripes(mask_double):
    return mask_double


def fma3d_installed() -> bool:
    reset_registry()
    names = facex_core.registry().names
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
    assert "no mask_adder named 'nosuch'" in err and "stripes" in err and "pip install" not in err


def test_a_missing_default_adder_says_what_to_install(stripes, monkeypatch, capsys):
    monkeypatch.setenv("FACEX_DISABLE_PLUGINS", "facex-mask-fma3d")  # as if FMA-3D were not installed
    reset_registry()
    assert main(["mask", "list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert ("the default mask_adder 'fma3d' is not installed: pip install facex-mask-fma3d (in a FaceX checkout: "
            "pip install -e plugins/masks/fma3d); or choose another with --set mask_adder.name=NAME "
            "(installed: stripes)") in err
    assert main(["mask", "list", "--set", "mask_adder.name=fma3d"]) == 2
    assert "--set: mask_adder 'fma3d' is not installed: pip install facex-mask-fma3d" in capsys.readouterr().err


def test_a_second_data_mask_into_a_busy_folder_exits_2_naming_the_holder(tmp_path, stripes, capsys):
    write_folder(tmp_path / "src", ids=1, per_id=1)
    with facex_core.FolderLock(tmp_path / "out", "data mask"):
        assert main(["data", "mask", str(tmp_path / "src"), str(tmp_path / "out"), "--workers", "0", *STRIPES]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{tmp_path / 'out'}: in use by " in err and f"(pid {os.getpid()} on " in err


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


def test_mask_sheet_without_photos_asks_for_paths(tmp_path, stripes, capsys):
    assert main(["mask", "sheet", str(tmp_path / "sheet.png"), *STRIPES]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no photos given: pass image files or folders as PATH" in err
    assert not (tmp_path / "sheet.png").exists()


def test_mask_sheet_where_no_cell_could_be_masked_exits_1(tmp_path, stripes, capsys):
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((80, 120, 3), 50, np.uint8))  # the double finds no face
    assert main(["mask", "sheet", str(tmp_path / "sheet.png"), str(tmp_path / "blank.png"), "--no-aligned",
                 *STRIPES]) == 1
    out, err = capsys.readouterr()
    assert "1 rows (original | black | blue | white), 0/3 cells masked" in out and "no cell could be masked" in err


@needs_fma3d
def test_fma3d_masks_aligned_crops_of_the_shared_photos(tmp_path, monkeypatch, shared_data):
    monkeypatch.setenv("FACEX_NO_PROGRESS", "1")
    crop = shared_data / "facexzoo-sdk" / "test1_cropped.jpg"
    if not crop.is_file():
        pytest.skip(f"{crop} not available")
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
def test_fma3d_sheet_on_the_shared_photos(tmp_path, monkeypatch, capsys, shared_data):
    monkeypatch.setenv("FACEX_NO_PROGRESS", "1")
    photos = [p for p in [*sorted((shared_data / "photos").glob("*")),
                          *(shared_data / "facexzoo-sdk" / f"test{i}.jpg" for i in (1, 2))] if p.is_file()]
    if not photos:
        pytest.skip(f"no photos under {shared_data}")
    assert main(["mask", "sheet", str(tmp_path / "sheet.png"), *map(str, photos), "--max-templates", "2",
                 "--cell", "96"]) == 0
    out = capsys.readouterr().out
    assert "rows (original |" in out and cv2.imread(str(tmp_path / "sheet.png")) is not None
