"""`facex-core sdk calibrate`: the threshold at a target FAR, the record it writes and how the SDK finds it."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facex_core import main
from facex_sdk.calibrate import read_pairs, threshold_at_far
from fakeplug_sdk import PIPELINE, square_image  # doubles/ (put on sys.path by conftest.py)

REPO = Path(__file__).resolve().parents[4]
DATA = REPO.parent / "shared" / "data"


# -- the threshold rule ---------------------------------------------------------------------------
def test_threshold_at_far_accepts_exactly_k_negatives():
    rng = np.random.default_rng(3)
    neg = rng.normal(0.1, 0.1, 2000)
    pos = rng.normal(0.6, 0.15, 500)
    scores = np.concatenate([pos, neg])
    labels = np.r_[np.ones(500), np.zeros(2000)]
    for k in (0, 1, 7, 40):
        got = threshold_at_far(scores, labels, k / 2000)
        # independent: accepting k negatives means rejecting the (k+1)-th largest and everything below;
        # the most permissive such rule accepts every score above it
        kth = np.sort(neg)[::-1][k]
        assert got["threshold"] == scores[scores > kth].min()
        assert np.mean(neg >= got["threshold"]) == got["far"] == k / 2000
        assert np.mean(pos >= got["threshold"]) == got["tar"]
        # one step more permissive breaks the target
        lower = scores[scores < got["threshold"]].max()
        assert np.mean(neg >= lower) > k / 2000


def test_threshold_at_far_between_two_points_takes_the_lower_far():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    labels = np.array([1, 0, 1, 0, 1, 0])
    got = threshold_at_far(scores, labels, 0.5)  # FARs reachable: 0, 1/3, 2/3, 1
    assert got["threshold"] == 0.7 and got["far"] == pytest.approx(1 / 3) and got["tar"] == pytest.approx(2 / 3)
    nothing = threshold_at_far(scores, labels, 0.0)
    assert nothing["threshold"] == 0.9 and nothing["tar"] == pytest.approx(1 / 3)  # 0.8 is the top negative
    # EER by hand: FAR−FRR goes from −1/3 at (1/3, 2/3) to +1/3 at (2/3, 1) (via (1/3, 1)): FAR=FRR at 1/3
    assert got["eer"] == pytest.approx(1 / 3)


def test_threshold_above_every_score_when_the_target_is_below_one_negative():
    scores, labels = np.array([0.9, 0.95, 0.2]), np.array([1, 0, 0])
    got = threshold_at_far(scores, labels, 0.1)
    assert got["threshold"] > 0.95 and got["far"] == 0 and got["tar"] == 0


# -- pairs files ----------------------------------------------------------------------------------
def test_simple_and_lfw_pairs_files_are_read(tmp_path):
    simple = tmp_path / "pairs.txt"
    simple.write_text("# comment\na/1.jpg b/2.jpg 1\n'with space.jpg' c.png 0  # trailing\n")
    assert read_pairs(str(simple)) == [(tmp_path / "a/1.jpg", tmp_path / "b/2.jpg", 1),
                                       (tmp_path / "with space.jpg", tmp_path / "c.png", 0)]
    lfw = tmp_path / "lfw_pairs.txt"
    lfw.write_text("1\t1\nAbel_Pacheco\t1\t4\nAbdel_Madi_Shabneh\t1\tDean_Barker\t1\n")
    root = tmp_path / "lfw"
    assert read_pairs(str(lfw), str(root)) == [
        (root / "Abel_Pacheco/Abel_Pacheco_0001.jpg", root / "Abel_Pacheco/Abel_Pacheco_0004.jpg", 1),
        (root / "Abdel_Madi_Shabneh/Abdel_Madi_Shabneh_0001.jpg", root / "Dean_Barker/Dean_Barker_0001.jpg", 0)]
    bad = tmp_path / "bad.txt"
    bad.write_text("a.jpg b.jpg 1\na.jpg b.jpg yes\n")
    from facex_core import ConfigError

    with pytest.raises(ConfigError, match=r"bad.txt:2: expected 'image_a image_b 1\|0'"):
        read_pairs(str(bad))


def test_lfw_pairs_are_read_by_the_core_reader_which_checks_the_header(tmp_path):
    from facex_core import ConfigError

    lfw = tmp_path / "pairs.txt"
    lfw.write_text("10\t300\nAbel_Pacheco\t1\t4\nAbdel_Madi_Shabneh\t1\tDean_Barker\t1\n")
    with pytest.raises(ConfigError, match=r"pairs.txt: header '10 300' announces .* but the file holds 2"):
        read_pairs(str(lfw))
    headless = tmp_path / "rfw_pairs.txt"  # RFW's files have no header
    headless.write_text("m.01_1\t1\t2\n")
    assert read_pairs(str(headless), str(tmp_path), "lfw") == [
        (tmp_path / "m.01_1/m.01_1_0001.jpg", tmp_path / "m.01_1/m.01_1_0002.jpg", 1)]


# -- end to end with test doubles -----------------------------------------------------------------
def _colour_pairs(folder: Path) -> tuple[Path, list[tuple[str, str, int]], np.ndarray]:
    """Images of 4 identities (colours) with a little variation; every pair labelled; the scores an
    independent cosine of the colours."""
    import cv2

    folder.mkdir()
    base = {"red": (30, 40, 200), "green": (40, 190, 60), "blue": (210, 60, 40), "grey": (120, 120, 120)}
    colours = {}
    for ident, bgr in base.items():
        for k in range(3):
            colour = np.clip(np.array(bgr) + [15 * k, -10 * k, 5 * k], 1, 255)
            colours[f"{ident}_{k}.png"] = colour
            cv2.imwrite(str(folder / f"{ident}_{k}.png"), square_image(colour))
    names = sorted(colours)
    pairs = [(a, b, int(a.split("_")[0] == b.split("_")[0])) for i, a in enumerate(names) for b in names[i + 1:]]
    pairs_file = folder / "pairs.txt"
    pairs_file.write_text("".join(f"{a} {b} {y}\n" for a, b, y in pairs) + "missing.png red_0.png 1\n")
    unit = {n: c / np.linalg.norm(c) for n, c in colours.items()}
    scores = np.array([unit[a] @ unit[b] for a, b, _ in pairs])
    return pairs_file, pairs, scores


def test_calibrate_picks_the_threshold_of_the_pairs_and_compare_uses_it(tmp_path, doubles, capsys):
    pairs_file, pairs, scores = _colour_pairs(tmp_path / "imgs")
    labels = np.array([y for _, _, y in pairs])
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights v1")
    cfg = [*PIPELINE, f"--set=recognizer.model={model}"]
    assert main(["sdk", "calibrate", str(pairs_file), *cfg, "--far", "0.05", "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    neg = np.sort(scores[labels == 0])[::-1]
    k = int(np.floor(0.05 * len(neg)))  # 54 negatives: at most 2 may be accepted
    assert (out["positive"], out["negative"], out["dropped"]) == (12, 54, 1)
    assert out["threshold"] == pytest.approx(scores[scores > neg[k]].min(), abs=1e-5)
    assert out["far"] == pytest.approx(np.mean(neg >= out["threshold"] - 1e-6))
    assert out["tar"] == pytest.approx(np.mean(scores[labels == 1] >= out["threshold"] - 1e-6))
    assert "missing.png" in captured.err
    record_path = Path(out["record"])
    assert record_path == tmp_path / "model.bin.facex-calibration.json"  # stored with the recognizer
    record = json.loads(record_path.read_text())
    assert record["recognizer"]["name"] == "test_colour" and record["far_target"] == 0.05

    def compare(*extra):
        assert main(["sdk", "compare", str(tmp_path / "imgs/red_0.png"), str(tmp_path / "imgs/red_1.png"),
                     *cfg, *extra, "--json"]) == 0
        captured = capsys.readouterr()
        return json.loads(captured.out), captured.err

    found, _ = compare()
    assert found["threshold_source"] == "calibration" and found["threshold"] == record["threshold"]
    assert compare("--set=sdk.threshold=0.25")[0]["threshold_source"] == "config"  # explicit wins
    model.write_bytes(b"weights v2")  # another model: the record no longer applies
    stale, err = compare("--set=recognizer.default_threshold=0.8")
    assert (stale["threshold_source"], stale["threshold"]) == ("recognizer", 0.8)
    assert "made for another model file" in err
    record_path.unlink()
    assert compare()[0]["threshold_source"] == "placeholder"


def test_calibration_record_without_a_model_file_goes_to_out(tmp_path, doubles, capsys):
    pairs_file, _, _ = _colour_pairs(tmp_path / "imgs")
    assert main(["sdk", "calibrate", str(pairs_file), *PIPELINE]) == 2
    assert "give --out FILE" in capsys.readouterr().err
    record = tmp_path / "cal.json"
    assert main(["sdk", "calibrate", str(pairs_file), *PIPELINE, "--out", str(record), "--far", "0"]) == 0
    text = capsys.readouterr()
    assert f"[sdk] calibration = \"{record}\"" in text.err and "threshold" in text.out
    threshold = json.loads(record.read_text())["threshold"]
    use = [*PIPELINE, f"--set=sdk.calibration={record}"]
    assert main(["sdk", "compare", str(tmp_path / "imgs/red_0.png"), str(tmp_path / "imgs/red_0.png"), *use]) == 0
    assert f"threshold {threshold:g}, calibration {record}" in capsys.readouterr().out
    # a record made with other recognizer settings is refused when named explicitly
    assert main(["sdk", "compare", str(tmp_path / "imgs/red_0.png"), str(tmp_path / "imgs/red_0.png"), *use,
                 "--set=recognizer.gain=2.0"]) == 2
    assert "other recognizer settings (gain)" in capsys.readouterr().err


# -- end to end on real photos --------------------------------------------------------------------
def test_calibrate_on_photos_stores_beside_the_checkpoint(tmp_path, capsys, monkeypatch):
    photos = DATA / "photos"
    weights = DATA / "facexzoo-sdk" / "retinaface_mobilenet0.25.npz"
    if not (photos / "obama2.jpg").is_file() or not weights.is_file():
        pytest.skip("../shared/data (photos, RetinaFace weights) not available")
    import torch

    import facex_core

    monkeypatch.setenv("FACEX_NO_PROGRESS", "1")
    exp = facex_core.Experiment({"experiment": {"name": "tiny"},
                                 "backbone": {"name": "mobilefacenet", "embedding_size": 16}})
    torch.manual_seed(0)
    backbone = exp.build_backbone().eval()
    checkpoint = tmp_path / "last.pt"
    facex_core.save_backbone_checkpoint(checkpoint, exp.resolved(), backbone)
    names = ["obama.jpg", "obama2.jpg", "biden.jpg", "astronaut.png"]
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("".join(f"{a} {b} {int({a, b} == {'obama.jpg', 'obama2.jpg'})}\n"
                             for i, a in enumerate(names) for b in names[i + 1:]))
    cfg = ["--set=detector.name=retinaface_mnet025", f"--set=detector.weights={weights}", "--set=detector.device=cpu",
           "--set=landmarker.name=none", "--set=aligner.name=arcface_5pt", "--set=recognizer.name=facex",
           f"--set=recognizer.checkpoint={checkpoint}", "--set=recognizer.device=cpu"]
    assert main(["sdk", "calibrate", str(pairs), "--root", str(photos), *cfg, "--far", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["positive"], out["negative"], out["far"]) == (1, 5, 0.0)
    assert Path(out["record"]) == tmp_path / "last.pt.facex-calibration.json"
    assert main(["sdk", "compare", str(photos / "obama.jpg"), str(photos / "biden.jpg"), *cfg, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    # FAR 0 on these pairs: obama-biden, a negative of the set, falls below the threshold
    assert result["threshold_source"] == "calibration" and result["threshold"] == out["threshold"]
    assert not result["same"]
