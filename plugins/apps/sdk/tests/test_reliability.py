"""What the SDK commands promise when inputs or models are bad: a non-zero exit when nothing
succeeded, no good output replaced by an empty one, NaN embeddings refused, stale settings refused."""
from __future__ import annotations

import json

import numpy as np
import pytest

from facex_core import main, write_image

from fakeplug_sdk import PIPELINE, square_image  # tests/doubles (put on sys.path by conftest.py)


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_image(folder / "a.png", square_image((200, 40, 40)))
    write_image(folder / "b.png", square_image((40, 200, 40)))
    return folder


def test_every_input_failing_exits_non_zero_for_detect_embed_align_and_annotate(doubles, tmp_path, capsys):
    missing = str(tmp_path / "nothing-here.jpg")
    text = tmp_path / "text.jpg"
    text.write_text("not an image")
    for command in (["sdk", "detect"], ["sdk", "embed", "--out", str(tmp_path / "e.npz")],
                    ["sdk", "align", "--out", str(tmp_path / "crops")],
                    ["sdk", "annotate", "--out", str(tmp_path / "drawn")]):
        assert main([*command, missing, str(text), *PIPELINE]) == 1, command
    assert "nothing-here.jpg: no such file" in capsys.readouterr().out


def test_an_all_failing_embed_never_replaces_a_good_npz(doubles, tmp_path, images):
    out = tmp_path / "gallery.npz"
    assert main(["sdk", "embed", str(images), "--out", str(out), *PIPELINE]) == 0
    good = out.read_bytes()
    assert np.load(out)["embeddings"].shape == (2, 3)
    assert main(["sdk", "embed", str(tmp_path / "missing.jpg"), "--out", str(out), *PIPELINE]) == 1
    assert out.read_bytes() == good


def test_nan_weights_are_an_error_not_a_decision_or_nan_rows(doubles, tmp_path, images, capsys):
    poisoned = [*PIPELINE, "--set=recognizer.poisoned=true"]
    assert main(["sdk", "compare", str(images / "a.png"), str(images / "b.png"), *poisoned]) == 1
    err = capsys.readouterr().err
    assert "non-finite embedding" in err and "different people" not in err
    out = tmp_path / "e.npz"
    assert main(["sdk", "embed", str(images), "--out", str(out), *poisoned]) == 1
    assert not out.exists()


@pytest.mark.parametrize("top", ["0", "-2"])
def test_search_top_must_be_a_positive_count(doubles, images, top, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["sdk", "search", str(images), str(images / "a.png"), "--top", top, *PIPELINE])
    assert stop.value.code == 2 and "expected a whole number >= 1" in capsys.readouterr().err


def test_sdk_threshold_nan_is_refused_naming_the_key(doubles, images, capsys):
    assert main(["sdk", "compare", str(images / "a.png"), str(images / "b.png"), *PIPELINE,
                 "--set", "sdk.threshold=nan"]) == 2
    assert "sdk.threshold: must be a finite number" in capsys.readouterr().err


def test_data_align_refuses_to_mix_crops_of_another_pipeline(doubles, tmp_path, images, capsys):
    raw = tmp_path / "raw" / "person"
    raw.mkdir(parents=True)
    write_image(raw / "a.png", square_image((200, 40, 40)))
    dst = tmp_path / "aligned"
    stages = PIPELINE[:3]
    assert main(["data", "align", str(raw.parent), str(dst), *stages, "--workers", "0"]) == 0
    assert main(["data", "align", str(raw.parent), str(dst), *stages, "--workers", "0",
                 "--set", "aligner.size=150"]) == 2
    err = capsys.readouterr().err
    assert "holds a data align run made with other settings" in err and "size" in err
    assert main(["data", "align", str(raw.parent), str(dst), *stages, "--workers", "0"]) == 0  # same: resumes


def test_aligned_inputs_skip_detection_and_give_the_pipelines_embeddings(doubles, tmp_path, images, capsys):
    crops = tmp_path / "crops"
    assert main(["sdk", "align", str(images), "--out", str(crops), *PIPELINE]) == 0
    a, b = sorted(crops.glob("*.jpg"))
    capsys.readouterr()
    assert main(["sdk", "compare", str(images / "a.png"), str(images / "b.png"), *PIPELINE, "--json"]) == 0
    full = json.loads(capsys.readouterr().out)["similarity"]
    assert main(["sdk", "compare", str(a), str(b), *PIPELINE, "--json", "--aligned"]) == 0
    aligned = json.loads(capsys.readouterr().out)["similarity"]
    assert aligned == pytest.approx(full, abs=0.02)  # the same crops, re-encoded as JPEG once
    out = tmp_path / "aligned.npz"
    assert main(["sdk", "embed", str(crops), "--out", str(out), "--aligned", *PIPELINE]) == 0
    assert np.load(out)["embeddings"].shape == (2, 3)
