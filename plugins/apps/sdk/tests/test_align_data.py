"""`facex-core data align`: raw photos → 112×112 crops of the largest face, identity folders kept,
the same files with or without workers and after an interrupted run, and a report of the problems."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from facex_core import main
from fakeplug_sdk import PIPELINE, square_image  # doubles/ (put on sys.path by conftest.py)

REPO = Path(__file__).resolve().parents[4]
SDK_DATA = REPO.parent / "shared" / "data" / "facexzoo-sdk"


def _files(folder: Path) -> dict[str, bytes]:
    """The visible files under ``folder`` (the hidden lock file of the run is not an output)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


@pytest.fixture()
def raw(tmp_path):
    """Two identities of coloured-square "faces", plus images without a face, unreadable and too large."""
    import cv2

    src = tmp_path / "raw"
    for ident, colour in (("alice", (40, 60, 200)), ("bob", (200, 90, 30))):
        (src / ident).mkdir(parents=True)
        for k in range(3):
            img = square_image(np.array(colour) + 10 * k)
            img[5:25, 5:25] = (255, 255, 255)  # a small second "face": the large one must be chosen
            cv2.imwrite(str(src / ident / f"{k}.png"), img)
    cv2.imwrite(str(src / "bob" / "blank.jpg"), np.zeros((80, 80, 3), np.uint8))
    (src / "bob" / "notes.txt").write_text("not an image")
    cv2.imwrite(str(src / "alice" / "huge.png"), np.zeros((2100, 2000, 3), np.uint8))
    return src


def test_crops_of_the_largest_face_keep_identity_folders_and_report_problems(tmp_path, raw, doubles, capsys):
    import cv2

    dst = tmp_path / "aligned"
    assert main(["data", "align", str(raw), str(dst), *PIPELINE, "--workers", "0"]) == 0
    captured = capsys.readouterr()
    assert sorted(_files(dst)) == ["alice/0.png", "alice/1.png", "alice/2.png", "align_report.json",
                                   "bob/0.png", "bob/1.png", "bob/2.png"]
    crop = cv2.imread(str(dst / "bob" / "1.png"))
    assert crop.shape == (112, 112, 3)
    assert crop[56, 56].tolist() == [210, 100, 40]  # the large square's colour, not the small white one
    report = json.loads((dst / "align_report.json").read_text())
    assert report["complete"] and report["images"] == 9 and report["aligned"] == 6
    assert [Path(r["file"]).name for r in report["no_face"]] == ["blank.jpg"]
    assert [Path(r["file"]).name for r in report["unreadable"]] == ["notes.txt"]
    assert [Path(r["file"]).name for r in report["failed"]] == ["huge.png"]
    assert "MemoryError" in report["failed"][0]["error"]
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert sorted(r["status"] for r in lines) == ["failed", "no_face", "unreadable"]
    assert "9 images: 6 aligned, 0 already done, 1 without a face, 1 unreadable, 1 failed" in captured.err


def test_workers_and_resume_give_the_same_files(tmp_path, raw, doubles, capsys):
    single, pooled, resumed = tmp_path / "w0", tmp_path / "w2", tmp_path / "resumed"
    assert main(["data", "align", str(raw), str(single), *PIPELINE, "--workers", "0"]) == 0
    assert main(["data", "align", str(raw), str(pooled), *PIPELINE, "--workers", "2"]) == 0
    one, two = _files(single), _files(pooled)
    reports = [json.loads(files.pop("align_report.json")) for files in (one, two)]
    assert one == two and len(one) == 6
    assert [{k: v for k, v in r.items() if k != "dst"} for r in reports][0] == \
        {k: v for k, v in reports[1].items() if k != "dst"}

    # an interrupted run: some crops written, one half-written temporary file left behind
    shutil.copytree(single, resumed)
    (resumed / "align_report.json").unlink()
    (resumed / "bob" / "2.png").unlink()
    (resumed / "alice" / "1.png").unlink()
    stale = resumed / "alice" / ".1.png.tmp-12345"  # as write_image names its temporaries
    stale.write_bytes(b"\x89PNG trunc")
    kept = resumed / "alice" / "0.png"
    kept.write_bytes(b"kept as is")  # an existing output is not recomputed
    capsys.readouterr()
    assert main(["data", "align", str(raw), str(resumed), *PIPELINE, "--workers", "0"]) == 0
    assert "2 aligned, 4 already done" in capsys.readouterr().err
    expected = _files(single)
    expected["alice/0.png"] = b"kept as is"
    got = _files(resumed)
    report = json.loads(got.pop("align_report.json"))
    expected.pop("align_report.json")
    assert got == expected and not stale.exists()
    assert report["already_done"] == 4 and [Path(r["file"]).name for r in report["no_face"]] == ["blank.jpg"]


def test_a_second_run_into_the_same_folder_is_refused_while_one_runs(tmp_path, raw, doubles, capsys):
    import facex_core

    dst = tmp_path / "aligned"
    with facex_core.FolderLock(dst, "data align"):  # another run holds the folder
        assert main(["data", "align", str(raw), str(dst), *PIPELINE, "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert f"{dst}: in use by" in err and "choose another folder for this data align" in err
    assert not (dst / "align_report.json").exists()
    assert main(["data", "align", str(raw), str(dst), *PIPELINE, "--workers", "0"]) == 0  # released


def test_output_inside_the_source_is_refused(tmp_path, raw, capsys):
    assert main(["data", "align", str(raw), str(raw / "out")]) == 2
    assert "must not be inside the source" in capsys.readouterr().err


def test_real_photo_gives_the_facexzoo_crop_with_retinaface(tmp_path, monkeypatch):
    weights, test1 = SDK_DATA / "retinaface_mobilenet0.25.npz", SDK_DATA / "test1.jpg"
    if not (weights.is_file() and test1.is_file()):
        pytest.skip("../shared/data/facexzoo-sdk (FaceX-Zoo SDK reference files) not available")
    import cv2

    monkeypatch.setenv("FACEX_NO_PROGRESS", "1")
    src = tmp_path / "raw" / "person"
    src.mkdir(parents=True)
    shutil.copy(test1, src / "t.jpg")
    assert main(["data", "align", str(tmp_path / "raw"), str(tmp_path / "out"), "--set=detector.name=retinaface_mnet025",
                 f"--set=detector.weights={weights}", "--set=detector.device=cpu", "--set=landmarker.name=none",
                 "--workers", "0"]) == 0
    crop = cv2.imread(str(tmp_path / "out" / "person" / "t.jpg")).astype(np.float64)
    reference = cv2.imread(str(SDK_DATA / "test1_cropped.jpg")).astype(np.float64)
    # FaceX-Zoo's crop of its first face (the larger one; from PFLD landmarks): the other face differs by ~50
    assert crop.shape == (112, 112, 3) and np.abs(crop - reference).mean() < 20
