"""Stages that do not fit are refused when the pipeline is built (naming both stages and the fix), and
calibration records made for another pipeline are refused when named, ignored when found beside the model."""
from __future__ import annotations

import json

import pytest

from facex_core import ConfigError, main
from facex_core.testing import installed
from facex_sdk import FaceAnalyzer
from fakeplug_sdk import PIPELINE, square_image  # tests/doubles (put on sys.path by conftest.py)

needs_dlib = pytest.mark.skipif("dlib_chip" not in installed("aligner"),
                                reason="facex-sdk-dlib (aligner dlib_chip) not installed")


def test_declarations_of_the_default_chain_and_the_facexzoo_chain_fit():
    from facex_sdk.fit import check_fit

    class Stage:
        def __init__(self, size=None, **declared):
            self.__dict__.update(declared)
            self.config = type("Config", (), {"size": size})()

    names = {"detector": "d", "landmarker": "l", "aligner": "a", "recognizer": "r"}
    mesh = Stage(landmark_layouts=("mesh468", "mesh478"))
    chip = Stage(accepts_layouts=("dlib5", "ibug68", "mesh468", "mesh478"), crop_template="dlib_chip",
                 crop_size_field="size", crop_channels="bgr", size=150)
    resnet = Stage(crop_template="dlib_chip", crop_size=150, crop_channels="bgr")
    check_fit(names, {"detector": Stage(), "landmarker": mesh, "aligner": chip, "recognizer": resnet})
    arcface = Stage(accepts_layouts=("arcface5",), crop_template="arcface", crop_size_field="size",
                    crop_channels="bgr", size=112)
    facex = Stage(crop_template="arcface", crop_size=None, crop_channels="bgr")
    check_fit(names, {"detector": Stage(landmark_layouts=("arcface5",)), "landmarker": None, "aligner": arcface,
                      "recognizer": facex})
    check_fit(names, {"detector": Stage(), "landmarker": None, "aligner": Stage(), "recognizer": Stage()})  # undeclared
    with pytest.raises(ConfigError, match="recognizer r needs BGR crops, but aligner a makes RGB"):
        check_fit(names, {"detector": Stage(), "landmarker": None, "aligner": Stage(crop_channels="rgb"),
                          "recognizer": facex})


@needs_dlib
def test_facex_recognizer_after_dlib_chips_is_refused_naming_both_and_the_fix(doubles, checkpoint):
    analyzer = FaceAnalyzer({"detector": {"name": "test_square"}, "landmarker": {"name": "dlib_5pt"},
                             "aligner": {"name": "dlib_chip"},
                             "recognizer": {"name": "facex", "checkpoint": str(checkpoint), "device": "cpu"}})
    with pytest.raises(ConfigError) as error:
        analyzer.prepare()
    assert "recognizer facex needs 'arcface' crops, but aligner dlib_chip makes 'dlib_chip' crops" in str(error.value)
    assert "--set aligner.name=arcface_5pt" in str(error.value)


@needs_dlib
def test_dlib_resnet_needs_150_pixel_chips(doubles):
    analyzer = FaceAnalyzer({"detector": {"name": "test_square"}, "landmarker": {"name": "dlib_5pt"},
                             "aligner": {"name": "dlib_chip", "size": 112}, "recognizer": {"name": "dlib_resnet"}})
    with pytest.raises(ConfigError, match="dlib_resnet needs 150×150 crops, but aligner dlib_chip makes 112×112: "
                                          "--set aligner.size=150"):
        analyzer.prepare()


@needs_dlib
def test_landmarks_the_aligner_cannot_take_are_refused_with_stages_that_would(doubles, tmp_path, capsys):
    import cv2

    image = tmp_path / "red.png"
    cv2.imwrite(str(image), square_image((30, 40, 200)))
    # test_square gives 5 ArcFace-order points; dlib_chip takes dlib's own 5 points, 68 or MediaPipe's mesh
    assert main(["sdk", "detect", str(image), *PIPELINE[:2], "--set=aligner.name=dlib_chip"]) == 0  # no aligner used
    assert main(["sdk", "align", str(image), "--out", str(tmp_path / "crops"), *PIPELINE[:2],
                 "--set=aligner.name=dlib_chip"]) == 2
    err = capsys.readouterr().err
    assert "detector test_square gives landmarks arcface5, but aligner dlib_chip takes dlib5, ibug68, mesh468" in err
    assert "--set landmarker.name=dlib_5pt" in err and "--set aligner.name=arcface_5pt" in err


def _record(tmp_path, capsys, *extra: str):
    """Calibrate the doubles on a few coloured squares; the record's path."""
    import cv2

    folder = tmp_path / "imgs"
    folder.mkdir()
    for name, colour in {"r0": (30, 40, 200), "r1": (40, 45, 190), "g0": (40, 190, 60), "g1": (50, 180, 70)}.items():
        cv2.imwrite(str(folder / f"{name}.png"), square_image(colour))
    (folder / "pairs.txt").write_text("r0.png r1.png 1\ng0.png g1.png 1\nr0.png g0.png 0\nr1.png g1.png 0\n")
    assert main(["sdk", "calibrate", str(folder / "pairs.txt"), *PIPELINE, *extra, "--far", "0", "--json"]) == 0
    return json.loads(capsys.readouterr().out)["record"]


def test_a_calibration_for_another_aligner_is_refused_when_named(doubles, tmp_path, capsys):
    record = _record(tmp_path, capsys, "--out", str(tmp_path / "cal.json"))
    assert json.loads(open(record).read())["stages"]["aligner"] == {"name": "arcface_5pt", "config": {
        "size": 112, "interpolation": "linear", "border_value": 0, "truncate_landmarks": False}}
    pair = [str(tmp_path / "imgs/r0.png"), str(tmp_path / "imgs/r1.png")]
    assert main(["sdk", "compare", *pair, *PIPELINE, f"--set=sdk.calibration={record}", "--set=aligner.size=128"]) == 2
    assert "made with other aligner settings (size)" in capsys.readouterr().err


def test_a_calibration_beside_the_model_for_another_pipeline_is_ignored_with_a_warning(doubles, tmp_path, capsys):
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights")
    use = [f"--set=recognizer.model={model}"]
    _record(tmp_path, capsys, *use)
    pair = [str(tmp_path / "imgs/r0.png"), str(tmp_path / "imgs/r1.png")]
    assert main(["sdk", "compare", *pair, *PIPELINE, *use, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["threshold_source"] == "calibration"
    assert main(["sdk", "compare", *pair, *PIPELINE, *use, "--set=aligner.size=128", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["threshold_source"] == "placeholder"
    assert "ignored: made with other aligner settings (size)" in captured.err
