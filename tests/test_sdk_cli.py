"""`facex-core sdk detect|align|embed|compare|search` on FaceX-Zoo's test1.jpg with a tiny FaceX checkpoint."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from facex_core._cli import main

REPO = Path(__file__).resolve().parents[1]
SDK_DATA = REPO.parent / "shared" / "data" / "facexzoo-sdk"
WEIGHTS = SDK_DATA / "retinaface_mobilenet0.25.npz"
TEST1 = SDK_DATA / "test1.jpg"
pytestmark = pytest.mark.skipif(not (WEIGHTS.is_file() and TEST1.is_file()),
                                reason="../shared/data/facexzoo-sdk (FaceX-Zoo SDK reference files) not available")
DETECTOR = [f"--set=detector.weights={WEIGHTS}", "--set=detector.device=cpu"]


@pytest.fixture(autouse=True)
def _quiet_single_thread(monkeypatch):
    import torch

    monkeypatch.setenv("FACEX_NO_PROGRESS", "1")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # shared 2-core machine
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A FaceX checkpoint of an untrained tiny MobileFaceNet (enough to run the recognizer)."""
    import torch

    import facex_core

    config = {"experiment": {"name": "tiny"}, "backbone": {"name": "mobilefacenet", "embedding_size": 16}}
    exp = facex_core.Experiment(config)
    torch.manual_seed(0)
    backbone = exp.build_backbone().eval()
    path = tmp_path_factory.mktemp("ckpt") / "last.pt"
    facex_core.save_checkpoint(path, {"format": facex_core.CHECKPOINT_FORMAT,
                                      "version": facex_core.CHECKPOINT_VERSION, "config": exp.resolved(),
                                      "model": {f"backbone.{k}": v for k, v in backbone.state_dict().items()}})
    return path


@pytest.fixture()
def sdk_toml(tmp_path, checkpoint):
    path = tmp_path / "sdk.toml"
    path.write_text(f'[detector]\nweights = "{WEIGHTS}"\ndevice = "cpu"\n'
                    f'[recognizer]\nname = "facex"\ncheckpoint = "{checkpoint}"\ndevice = "cpu"\n'
                    f'[sdk]\nthreshold = 0.5\n')
    return path


def test_detect_finds_two_faces_and_annotates(tmp_path, capsys):
    assert main(["sdk", "detect", str(TEST1), *DETECTOR, "--annotate", str(tmp_path / "ann")]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["file"] == str(TEST1) and len(row["faces"]) == 2
    assert all(len(f["box"]) == 4 and len(f["landmarks"]) == 5 and f["score"] > 0.9 for f in row["faces"])
    import cv2

    drawn = cv2.imread(row["annotated"])
    assert drawn is not None and drawn.shape == (418, 818, 3)
    assert not np.array_equal(drawn, cv2.imread(str(TEST1)))


def test_bad_files_get_per_file_results(tmp_path, capsys):
    import cv2

    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(TEST1, folder / "a_good.jpg")
    (folder / "b_corrupt.jpg").write_bytes(TEST1.read_bytes()[:200])
    (folder / "c_notes.txt").write_text("not an image\n")
    small = cv2.resize(cv2.imread(str(TEST1)), (205, 105))
    cv2.imwrite(str(folder / "d_grey.png"), cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(folder / "e_rgba.png"), cv2.cvtColor(small, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(folder / "f_blank.png"), np.full((64, 64, 3), 127, np.uint8))
    out = tmp_path / "det.jsonl"
    assert main(["sdk", "detect", str(folder), *DETECTOR, "--out", str(out)]) == 0
    rows = {Path(r["file"]).name: r for r in map(json.loads, out.read_text().splitlines())}
    assert sorted(rows) == ["a_good.jpg", "b_corrupt.jpg", "c_notes.txt", "d_grey.png", "e_rgba.png", "f_blank.png"]
    assert len(rows["a_good.jpg"]["faces"]) == 2
    assert "not a decodable image" in rows["b_corrupt.jpg"]["error"]
    assert "c_notes.txt" in rows["c_notes.txt"]["error"]
    assert "error" not in rows["d_grey.png"] and "error" not in rows["e_rgba.png"]
    assert rows["f_blank.png"]["faces"] == []
    assert "6 files" in capsys.readouterr().err


def test_align_writes_112_crops(tmp_path, capsys):
    import cv2

    assert main(["sdk", "align", str(TEST1), str(tmp_path / "missing.jpg"), *DETECTOR,
                 "--out", str(tmp_path / "crops")]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert "error" in rows[1]
    crops = sorted((tmp_path / "crops").iterdir())
    assert [p.name for p in crops] == ["test1_0.jpg", "test1_1.jpg"]
    assert all(cv2.imread(str(p)).shape == (112, 112, 3) for p in crops)


def test_recognizer_is_required(capsys):
    assert main(["sdk", "compare", str(TEST1), str(TEST1), *DETECTOR]) == 2
    assert "recognizer.name: required" in capsys.readouterr().err


def test_unknown_config_key_is_named(sdk_toml, capsys):
    assert main(["sdk", "detect", str(TEST1), "--config", str(sdk_toml), "--set", "detector.weight=x"]) == 2
    assert "weight" in capsys.readouterr().err


def test_embed_compare_search(tmp_path, sdk_toml, capsys):
    cfg = ["--config", str(sdk_toml)]
    out = tmp_path / "emb.npz"
    assert main(["sdk", "embed", str(TEST1), *cfg, "--out", str(out)]) == 0
    data = np.load(out)
    assert data["embeddings"].shape == (2, 16) and list(data["names"]) == [str(TEST1)] * 2
    np.testing.assert_allclose(np.linalg.norm(data["embeddings"], axis=1), 1, atol=1e-5)
    capsys.readouterr()

    assert main(["sdk", "compare", str(TEST1), str(TEST1), *cfg]) == 0
    text = capsys.readouterr().out
    assert "similarity 1.0000" in text and "same person" in text and "threshold 0.5" in text

    gallery = tmp_path / "gallery"
    for name in ("alice", "bob"):
        (gallery / name).mkdir(parents=True)
    shutil.copy(TEST1, gallery / "alice" / "1.jpg")
    (gallery / "bob" / "x.txt").write_text("no image")
    assert main(["sdk", "search", str(gallery), str(TEST1), *cfg, "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["results"][0]["identity"] == "alice"
    assert result["results"][0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert "bob: no usable face" in captured.err
