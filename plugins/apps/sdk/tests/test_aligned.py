"""`--aligned` and ``aligned=True``: crops aligned already need only the aligner (the crops' convention)
and the recognizer, so they run where the detector's plugin is missing; what they record (``.npz`` and
gallery: aligner and recognizer only) stays comparable with full pipelines made of the same two."""
from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

from facex_core import ConfigError, main, registry, write_image
from facex_core.testing import reset_registry
from facex_sdk import FaceAnalyzer, Gallery
from fakeplug_sdk import PIPELINE, square_image  # tests/doubles (put on sys.path by conftest.py)

CROP_STAGES = PIPELINE[2:]  # aligner arcface_5pt, recognizer test_colour
COLOURS = {"red": [(30, 40, 200), (40, 45, 190)], "green": [(40, 190, 60)], "blue": [(210, 60, 40)]}
#: How the detector (and landmarker) cannot be built: the defaults with their plugin hidden, or unknown names.
MISSING = {"uninstalled": [], "unknown": ["--set=detector.name=nosuch", "--set=landmarker.name=nosuch"]}
ERRORS = {"uninstalled": "the default detector 'mediapipe' is not installed: pip install facex-sdk-mediapipe",
          "unknown": "detector.name: no detector named 'nosuch'"}


def crop(colour) -> np.ndarray:
    """A 112×112 "aligned crop" of one colour (test_colour embeds the colour of its centre)."""
    return np.full((112, 112, 3), colour, np.uint8)


def hide_mediapipe(monkeypatch) -> None:
    """As if facex-sdk-mediapipe (the default detector and landmarker) were not installed."""
    hidden = [os.environ.get("FACEX_DISABLE_PLUGINS", ""), "facex-sdk-mediapipe"]
    monkeypatch.setenv("FACEX_DISABLE_PLUGINS", ",".join(filter(None, hidden)))
    reset_registry()


@pytest.fixture
def crops(doubles, tmp_path):
    """crops/<identity>/*.png aligned crops, and a probe crop ``probe.png`` (a red)."""
    root = tmp_path / "crops"
    for name, colours in COLOURS.items():
        (root / name).mkdir(parents=True)
        for k, colour in enumerate(colours):
            write_image(root / name / f"{k}.png", crop(colour))
    write_image(tmp_path / "probe.png", crop((35, 42, 195)))
    return root


@pytest.fixture(params=sorted(MISSING))
def no_detector(request, doubles, monkeypatch):
    """``(config arguments, error)``: the aligner and recognizer of the doubles' pipeline with a detector
    and landmarker that cannot be built, and the error their use gives."""
    if request.param == "uninstalled":
        hide_mediapipe(monkeypatch)
        assert "mediapipe" not in registry().names("detector")
    return [*MISSING[request.param], *CROP_STAGES], ERRORS[request.param]


def _json(capsys, *argv: str) -> dict:
    capsys.readouterr()
    assert main(list(argv)) == 0, argv
    return json.loads(capsys.readouterr().out.splitlines()[-1])


def _aligned_results(config: list[str], crops, tmp_path, tag: str, capsys) -> dict:
    """Every number the aligned commands give with ``config``."""
    probe, npz, gallery = str(tmp_path / "probe.png"), tmp_path / f"{tag}.npz", tmp_path / f"{tag}-gallery.npz"
    capsys.readouterr()
    assert main(["sdk", "embed", str(crops), "--aligned", "--out", str(npz), *config]) == 0
    compared = _json(capsys, "sdk", "compare", str(crops / "red/0.png"), str(crops / "red/1.png"), "--aligned",
                     "--json", *config)
    assert main(["sdk", "gallery", "build", str(crops), "--aligned", "--out", str(gallery), *config]) == 0
    from_file = _json(capsys, "sdk", "search", str(gallery), probe, "--aligned", "--json", *config)
    from_folder = _json(capsys, "sdk", "search", str(crops), probe, "--aligned", "--json", *config)
    with np.load(npz) as data:
        embedded = {k: data[k] for k in ("embeddings", "names", "pipeline")}
    return {"embedded": embedded, "similarity": compared["similarity"], "threshold": compared["threshold"],
            "gallery": Gallery.load(gallery).embeddings, "from_file": from_file["results"],
            "from_folder": from_folder["results"]}


def test_aligned_embed_compare_and_search_need_no_detector_and_give_the_same_numbers(crops, no_detector,
                                                                                        tmp_path, capsys):
    config, _ = no_detector
    available = _aligned_results(PIPELINE, crops, tmp_path, "available", capsys)  # detector test_square
    missing = _aligned_results(config, crops, tmp_path, "missing", capsys)
    for key in ("embeddings", "names", "pipeline"):
        np.testing.assert_array_equal(missing["embedded"][key], available["embedded"][key])
    np.testing.assert_array_equal(missing["gallery"], available["gallery"])
    for key in ("similarity", "threshold", "from_file", "from_folder"):
        assert missing[key] == available[key], key
    assert missing["embedded"]["embeddings"].shape == (4, 3)
    assert [r["identity"] for r in missing["from_file"]] == ["red", "green", "blue"]  # by cosine to the probe
    assert missing["from_folder"] == missing["from_file"]


def test_without_aligned_a_missing_detector_is_still_one_clear_error(crops, no_detector, tmp_path, capsys):
    config, error = no_detector
    probe = str(tmp_path / "probe.png")
    for argv in (["sdk", "embed", str(crops), "--out", str(tmp_path / "e.npz")],
                 ["sdk", "compare", probe, probe], ["sdk", "search", str(crops), probe],
                 ["sdk", "gallery", "build", str(crops), "--out", str(tmp_path / "g.npz")]):
        capsys.readouterr()
        assert main([*argv, *config]) == 2, argv
        err = capsys.readouterr().err
        assert error in err and "Traceback" not in err, argv
        assert [line for line in err.splitlines() if line.strip()] == [err.strip()], argv  # one line
    assert not (tmp_path / "e.npz").exists() and not (tmp_path / "g.npz").exists()


def test_aligned_npz_and_gallery_record_aligner_and_recognizer_and_fit_full_pipelines_of_both(
        crops, no_detector, tmp_path, capsys, checkpoint):
    config, _ = no_detector
    npz, gallery = tmp_path / "aligned.npz", tmp_path / "aligned-gallery.npz"
    assert main(["sdk", "embed", str(crops), "--aligned", "--out", str(npz), *config]) == 0
    assert main(["sdk", "gallery", "build", str(crops), "--aligned", "--out", str(gallery), *config]) == 0
    with np.load(npz) as data:
        recorded = json.loads(str(data["pipeline"]))
    assert sorted(recorded) == ["aligner", "recognizer"] and recorded["recognizer"]["name"] == "test_colour"
    assert Gallery.load(gallery).pipeline == recorded
    # a full pipeline with the same aligner and recognizer takes them (its detector is not compared) ...
    photo = tmp_path / "photo.png"
    write_image(photo, square_image((35, 42, 195)))  # a red face in a photo, found by the detector
    full = tmp_path / "full-gallery.npz"
    assert main(["sdk", "gallery", "build", str(npz), "--out", str(full), *PIPELINE]) == 0
    assert sorted(Gallery.load(full).pipeline) == ["aligner", "detector", "landmarker", "recognizer"]
    for target in (gallery, full):
        found = _json(capsys, "sdk", "search", str(target), str(photo), "--json", *PIPELINE)
        assert found["results"][0]["identity"] == "red"
    assert main(["sdk", "gallery", "add", str(gallery), str(npz), *PIPELINE]) == 0
    # ... and a full gallery takes aligned probes and aligned faces, built without a detector
    found = _json(capsys, "sdk", "search", str(full), str(tmp_path / "probe.png"), "--aligned", "--json", *config)
    assert found["results"][0]["identity"] == "red"
    assert main(["sdk", "gallery", "add", str(full), str(crops), "--aligned", *config]) == 0
    # another recognizer (other settings, or another one) refuses them, naming the difference
    capsys.readouterr()
    for other, why in ((["--set=recognizer.gain=2.0"], "other recognizer settings (gain)"),
                       (["--set=recognizer.name=facex", f"--set=recognizer.checkpoint={checkpoint}",
                         "--set=recognizer.flip=none", "--set=recognizer.device=cpu"],
                        "made for recognizer 'test_colour', not 'facex'")):
        assert main(["sdk", "gallery", "build", str(npz), "--out", str(tmp_path / "x.npz"), *PIPELINE, *other]) == 2
        assert why in capsys.readouterr().err
        assert main(["sdk", "search", str(gallery), str(photo), *PIPELINE, *other]) == 2
        err = capsys.readouterr().err
        assert "different pipelines" in err and why in err
        assert main(["sdk", "search", str(gallery), str(tmp_path / "probe.png"), "--aligned", *config, *other]) == 2
        assert why in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()


def _calibrate(tmp_path, capsys, *config: str) -> dict:
    """Calibrate the full doubles' pipeline on coloured squares; the record (written beside the model)."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name, colour in {"r0": (30, 40, 200), "r1": (40, 45, 190), "g0": (40, 190, 60), "g1": (50, 180, 70)}.items():
        write_image(folder / f"{name}.png", square_image(colour))
    (folder / "pairs.txt").write_text("r0.png r1.png 1\ng0.png g1.png 1\nr0.png g0.png 0\nr1.png g1.png 0\n")
    out = _json(capsys, "sdk", "calibrate", str(folder / "pairs.txt"), *PIPELINE, *config, "--far", "0", "--json")
    return json.loads(open(out["record"], encoding="utf-8").read()) | {"path": out["record"]}


def test_aligned_calls_match_a_full_pipelines_calibration_on_aligner_and_recognizer(crops, no_detector,
                                                                                    tmp_path, capsys):
    config, _ = no_detector
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights")
    use = [f"--set=recognizer.model={model}"]
    record = _calibrate(tmp_path, capsys, *use)
    assert record["stages"]["detector"] == {"name": "test_square"}  # not the detector used below
    pair = [str(crops / "red/0.png"), str(crops / "green/0.png")]
    found = _json(capsys, "sdk", "compare", *pair, "--aligned", "--json", *config, *use)
    assert (found["threshold_source"], found["threshold"]) == ("calibration", record["threshold"])
    searched = _json(capsys, "sdk", "search", str(crops), str(tmp_path / "probe.png"), "--aligned", "--json",
                     *config, *use)
    assert (searched["threshold_source"], searched["threshold"]) == ("calibration", record["threshold"])
    # the stages both record are still compared: other aligner settings ignore it beside the model ...
    capsys.readouterr()
    assert main(["sdk", "compare", *pair, "--aligned", "--json", *config, *use, "--set=aligner.size=128"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["threshold_source"] == "placeholder"
    assert "ignored: made with other aligner settings (size)" in captured.err
    # ... and refuse it when named
    assert main(["sdk", "compare", *pair, "--aligned", *config, *use, "--set=aligner.size=128",
                 f"--set=sdk.calibration={record['path']}"]) == 2
    assert "made with other aligner settings (size)" in capsys.readouterr().err


def test_python_api_with_aligned_builds_only_the_aligner_and_recognizer(crops, no_detector, tmp_path):
    config, error = no_detector
    analyzer = FaceAnalyzer(overrides=[arg.removeprefix("--set=") for arg in config])
    red = crop(COLOURS["red"][0])
    vector = analyzer.embed(red[:, :, ::-1].copy(), channels="rgb", aligned=True)
    np.testing.assert_allclose(vector, np.asarray(COLOURS["red"][0]) / np.linalg.norm(COLOURS["red"][0]), atol=1e-6)
    np.testing.assert_allclose(analyzer.embed_crops([red]), [vector])
    result = analyzer.compare(str(crops / "red/0.png"), str(crops / "red/1.png"), aligned=True)
    assert result.same is (result.similarity >= result.threshold) and result.faces == ()
    assert analyzer.decision_threshold(aligned=True).source == "placeholder"
    assert sorted(analyzer.identity(aligned=True)) == ["aligner", "recognizer"]
    gallery = analyzer.build_gallery(crops, aligned=True)
    assert gallery.pipeline == analyzer.identity(aligned=True) and sorted(gallery.names) == ["blue", "green", "red"]
    assert analyzer.search(gallery, tmp_path / "probe.png", aligned=True)[0].identity == "red"
    assert analyzer.stages == {"aligner": "arcface_5pt", "recognizer": "test_colour"}  # nothing else was built
    for call in (lambda: analyzer.analyze(red, channels="bgr"), analyzer.identity,
                 lambda: analyzer.search(gallery, tmp_path / "probe.png")):
        with pytest.raises(ConfigError, match=re.escape(error)):
            call()


def test_the_reported_facex_aligned_embed_runs_without_the_mediapipe_plugin(doubles, crops, checkpoint,
                                                                            tmp_path, monkeypatch):
    if "facex" not in registry().names("recognizer"):
        pytest.skip("facex-sdk-recognizer not installed")
    stages = ["--set", "recognizer.name=facex", "--set", f"recognizer.checkpoint={checkpoint}",
              "--set", "recognizer.flip=none", "--set", "aligner.name=arcface_5pt"]
    with_detector = tmp_path / "with.npz"
    assert main(["sdk", "embed", str(crops), "--aligned", *stages, "--set", "detector.name=test_square",
                 "--set", "landmarker.name=none", "--out", str(with_detector)]) == 0
    hide_mediapipe(monkeypatch)
    out = tmp_path / "e.npz"
    assert main(["sdk", "embed", str(crops), "--aligned", *stages, "--out", str(out)]) == 0
    with np.load(out) as got, np.load(with_detector) as want:
        assert got["embeddings"].shape == (4, 16)
        np.testing.assert_allclose(got["embeddings"], want["embeddings"], atol=1e-5)
        assert sorted(json.loads(str(got["pipeline"]))) == ["aligner", "recognizer"]


def test_an_aligned_crop_of_the_wrong_size_is_a_per_file_error_naming_both_sizes(doubles, crops, tmp_path,
                                                                                   capsys):
    small = tmp_path / "small"
    small.mkdir()
    write_image(small / "tiny.png", np.full((100, 90, 3), (30, 40, 200), np.uint8))
    write_image(small / "good.png", crop((30, 40, 200)))
    sized = [*PIPELINE, "--set=recognizer.crop_size=112"]
    capsys.readouterr()
    assert main(["sdk", "embed", str(small), "--aligned", "--out", str(tmp_path / "e.npz"), *sized]) == 0
    captured = capsys.readouterr()
    err = captured.out + captured.err
    assert "tiny.png" in err and "90x100" in err and "takes 112x112" in err and "Traceback" not in err
    with np.load(tmp_path / "e.npz") as data:
        assert [os.path.basename(n) for n in data["names"]] == ["good.png"]
    assert main(["sdk", "compare", str(small / "tiny.png"), str(small / "good.png"), "--aligned", *sized]) == 1
