"""`facex-core sdk detect|align|embed|compare|search|annotate` with RetinaFace + a tiny FaceX checkpoint,
and with the zero-download default pipeline (MediaPipe → dlib) when its plugins are installed."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from facex_core import main

REPO = Path(__file__).resolve().parents[4]
DATA = REPO.parent / "shared" / "data"
SDK_DATA = DATA / "facexzoo-sdk"
PHOTOS = DATA / "photos"
WEIGHTS = SDK_DATA / "retinaface_mobilenet0.25.npz"
TEST1 = SDK_DATA / "test1.jpg"
pytestmark = pytest.mark.skipif(not (WEIGHTS.is_file() and TEST1.is_file()),
                                reason="../shared/data/facexzoo-sdk (FaceX-Zoo SDK reference files) not available")
#: The FaceX-Zoo-like pipeline, named explicitly (the default is MediaPipe → dlib).
DETECTOR = ["--set=detector.name=retinaface_mnet025", f"--set=detector.weights={WEIGHTS}",
            "--set=detector.device=cpu", "--set=landmarker.name=none", "--set=aligner.name=arcface_5pt"]


def default_pipeline_installed() -> bool:
    from facex_core.testing import installed

    return ("mediapipe" in installed("detector") and "mediapipe_mesh" in installed("landmarker")
            and "dlib_chip" in installed("aligner") and "dlib_resnet" in installed("recognizer"))


needs_default = pytest.mark.skipif(not default_pipeline_installed(),
                                   reason="default SDK pipeline (facex-sdk-mediapipe, facex-sdk-dlib) not installed")


@pytest.fixture(autouse=True)
def _quiet_single_thread(monkeypatch):
    import torch

    monkeypatch.setenv("FACEX_NO_PROGRESS", "1")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # shared 2-core machine
    yield
    torch.set_num_threads(previous)


@pytest.fixture()
def sdk_toml(tmp_path, checkpoint):
    path = tmp_path / "sdk.toml"
    path.write_text(f'[detector]\nname = "retinaface_mnet025"\nweights = "{WEIGHTS}"\ndevice = "cpu"\n'
                    f'[landmarker]\nname = "none"\n[aligner]\nname = "arcface_5pt"\n'
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


def test_masked_scene_lowers_the_detector_threshold_to_facexzoo_value():
    from facex_sdk import SdkSetup

    keys = [arg.removeprefix("--set=") for arg in DETECTOR]
    plain = SdkSetup(None, keys)
    masked = SdkSetup(None, [*keys, "sdk.scene=masked"])
    explicit = SdkSetup(None, [*keys, "sdk.scene=masked", "detector.confidence_threshold=0.6"])
    # FaceX-Zoo: face_detection_1.0 keeps faces above 0.7, the masked-face 2.0 setting above 0.4
    assert plain.stage("detector").config.confidence_threshold == 0.7
    assert masked.stage("detector").config.confidence_threshold == 0.4
    assert explicit.stage("detector").config.confidence_threshold == 0.6


def test_scene_flag_is_the_sdk_scene_key(capsys):
    assert main(["sdk", "detect", str(SDK_DATA / "test3_mask.jpg"), *DETECTOR, "--scene", "masked"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["faces"] and min(f["score"] for f in row["faces"]) > 0.4


def test_missing_default_plugin_names_the_distribution(monkeypatch, capsys):
    from facex_core.testing import reset_registry

    monkeypatch.setenv("FACEX_DISABLE_PLUGINS", "facex-sdk-dlib")
    reset_registry()
    try:
        assert main(["sdk", "compare", str(TEST1), str(TEST1), *DETECTOR]) == 2
    finally:
        monkeypatch.delenv("FACEX_DISABLE_PLUGINS")
        reset_registry()
    err = capsys.readouterr().err
    assert "the default recognizer 'dlib_resnet' is not installed" in err and "pip install facex-sdk-dlib" in err


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
    assert "similarity 1.0000" in text and "same person" in text and "threshold 0.5, [sdk] threshold" in text

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


def test_annotate_names_gallery_identities(tmp_path, sdk_toml, capsys):
    import cv2

    gallery = tmp_path / "gallery"
    (gallery / "pair").mkdir(parents=True)
    shutil.copy(TEST1, gallery / "pair" / "t.jpg")
    out = tmp_path / "ann"
    assert main(["sdk", "annotate", str(TEST1), str(SDK_DATA / "test3_mask.jpg"), "--config", str(sdk_toml),
                 "--gallery", str(gallery), "--out", str(out)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [Path(r["file"]).name for r in rows] == ["test1.jpg", "test3_mask.jpg"]
    first = rows[0]
    # the gallery identity is the mean of test1's two faces: each face is nearest to it
    assert len(first["faces"]) == 2 and all(f["nearest"] == "pair" for f in first["faces"])
    for face in first["faces"]:
        assert (face["identity"] == "pair") == (face["similarity"] >= first["threshold"])
    assert cv2.imread(first["annotated"]).shape == (418, 818, 3)


# -- bad input: every command gives each file its own result ---------------------------------------
def _bad_inputs(folder: Path) -> None:
    import cv2

    folder.mkdir()
    shutil.copy(TEST1, folder / "a_good.jpg")
    (folder / "b_corrupt.jpg").write_bytes(TEST1.read_bytes()[:200])
    (folder / "c_notes.txt").write_text("not an image\n")
    small = cv2.resize(cv2.imread(str(TEST1)), (409, 209))
    cv2.imwrite(str(folder / "d_grey.png"), cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(folder / "e_rgba.png"), cv2.cvtColor(small, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(folder / "f_blank.png"), np.full((64, 64, 3), 127, np.uint8))
    huge = np.full((6000, 8000, 3), 90, np.uint8)
    huge[1000:1000 + 2090, 1000:1000 + 4090] = cv2.resize(cv2.imread(str(TEST1)), (4090, 2090))
    cv2.imwrite(str(folder / "g_huge.jpg"), huge)


NAMES = ["a_good.jpg", "b_corrupt.jpg", "c_notes.txt", "d_grey.png", "e_rgba.png", "f_blank.png", "g_huge.jpg"]
UNREADABLE = {"b_corrupt.jpg", "c_notes.txt"}


def _check_bad_input_results(tmp_path: Path, cfg: list[str], capsys) -> None:
    import cv2

    folder = tmp_path / "in"
    _bad_inputs(folder)
    out = tmp_path / "det.jsonl"
    assert main(["sdk", "detect", str(folder), *cfg, "--out", str(out)]) == 0
    rows = {Path(r["file"]).name: r for r in map(json.loads, out.read_text().splitlines())}
    assert sorted(rows) == NAMES
    assert "not a decodable image" in rows["b_corrupt.jpg"]["error"] and "b_corrupt.jpg" in rows["b_corrupt.jpg"]["error"]
    assert "c_notes.txt" in rows["c_notes.txt"]["error"]
    for name in ("a_good.jpg", "d_grey.png", "e_rgba.png", "g_huge.jpg"):
        assert len(rows[name]["faces"]) == 2, name
    assert rows["f_blank.png"]["faces"] == []
    assert (rows["g_huge.jpg"]["width"], rows["g_huge.jpg"]["height"]) == (8000, 6000)
    assert min(f["box"][0] for f in rows["g_huge.jpg"]["faces"]) > 1000  # boxes in the full image's pixels
    assert "7 files" in capsys.readouterr().err

    for command, extra in (("align", ["--out", str(tmp_path / "crops")]),
                           ("embed", ["--out", str(tmp_path / "emb.npz")]),
                           ("annotate", ["--out", str(tmp_path / "ann")])):
        assert main(["sdk", command, str(folder), *cfg, *extra]) == 0, command
        lines = {Path(r["file"]).name: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
        assert sorted(lines) == NAMES, command
        assert {n for n, r in lines.items() if "error" in r} == UNREADABLE, command
    assert {p.name for p in (tmp_path / "ann").iterdir()} == {n.rsplit(".", 1)[0] + ".jpg" for n in NAMES} - \
        {"b_corrupt.jpg", "c_notes.jpg"}
    assert cv2.imread(str(tmp_path / "ann" / "g_huge.jpg")).shape == (6000, 8000, 3)
    emb = np.load(tmp_path / "emb.npz")
    assert sorted(Path(f).name for f in emb["failed"]) == sorted(UNREADABLE)
    assert sorted({Path(n).name for n in emb["names"]}) == ["a_good.jpg", "d_grey.png", "e_rgba.png", "g_huge.jpg"]

    assert main(["data", "align", str(folder), str(tmp_path / "aligned"), *cfg, "--workers", "0"]) == 0
    report = json.loads((tmp_path / "aligned" / "align_report.json").read_text())
    assert sorted(Path(r["file"]).name for r in report["unreadable"]) == sorted(UNREADABLE)
    assert [Path(r["file"]).name for r in report["no_face"]] == ["f_blank.png"]
    assert report["aligned"] == 4 and report["failed"] == []


def test_bad_input_gets_per_file_results_with_retinaface(tmp_path, checkpoint, capsys):
    cfg = [*DETECTOR, "--set=recognizer.name=facex", f"--set=recognizer.checkpoint={checkpoint}",
           "--set=recognizer.device=cpu"]
    _check_bad_input_results(tmp_path, cfg, capsys)


@needs_default
def test_bad_input_gets_per_file_results_with_the_default_pipeline(tmp_path, capsys):
    _check_bad_input_results(tmp_path, [], capsys)


# -- the zero-download default pipeline -----------------------------------------------------------
@needs_default
def test_default_pipeline_tells_obama_from_biden_out_of_the_box(capsys):
    if not (PHOTOS / "obama2.jpg").is_file():
        pytest.skip("../shared/data/photos not available")
    results = {}
    for other in ("obama2.jpg", "biden.jpg"):
        assert main(["sdk", "compare", str(PHOTOS / "obama.jpg"), str(PHOTOS / other), "--json"]) == 0
        results[other] = json.loads(capsys.readouterr().out)
    same, different = results["obama2.jpg"], results["biden.jpg"]
    assert same["pipeline"] == {"detector": "mediapipe", "landmarker": "mediapipe_mesh", "aligner": "dlib_chip",
                                "recognizer": "dlib_resnet"}
    assert same["threshold_source"] == "recognizer"  # dlib_resnet's documented cosine threshold
    assert same["same"] and not different["same"]
    assert same["similarity"] > same["threshold"] > different["similarity"]


@needs_default
def test_default_detect_gives_mesh_landmarks(capsys):
    assert main(["sdk", "detect", str(TEST1)]) == 0
    row = json.loads(capsys.readouterr().out)
    assert len(row["faces"]) == 2 and all(len(f["landmarks"]) == 468 for f in row["faces"])
