"""The Python API, :class:`facex_sdk.FaceAnalyzer`, with the SDK test doubles (a face is a coloured
square, its embedding the square's colour: every number is checked against that colour), and the
README's example run as written."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from facex_core import ConfigError, DataError, NonFiniteError, write_image
from facex_sdk import Comparison, FaceAnalyzer
from fakeplug_sdk import square_image  # tests/doubles (put on sys.path by conftest.py)

REPO = Path(__file__).resolve().parents[4]
PHOTOS = REPO.parent / "shared" / "data" / "photos"
DOUBLES = {"detector": {"name": "test_square"}, "landmarker": {"name": "none"}, "aligner": {"name": "arcface_5pt"},
           "recognizer": {"name": "test_colour"}}
RED, GREEN = (30, 40, 200), (40, 190, 60)


def unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


@pytest.fixture
def analyzer(doubles):
    return FaceAnalyzer(DOUBLES)


def test_analyze_a_path_gives_box_landmarks_crop_and_the_colour_as_embedding(analyzer, tmp_path):
    write_image(tmp_path / "red.png", square_image(RED))
    (face,) = analyzer.analyze(tmp_path / "red.png")
    np.testing.assert_allclose(face.box, [50, 30, 150, 130])
    assert face.landmarks.shape == (5, 2) and face.crop.shape == (112, 112, 3) and face.score == 0.9
    np.testing.assert_allclose(face.embedding, unit(RED), atol=2e-3)  # BGR colour, as OpenCV reads it
    assert analyzer.stages == {"detector": "test_square", "landmarker": "none", "aligner": "arcface_5pt",
                               "recognizer": "test_colour"}


def test_numpy_images_must_say_their_channel_order(analyzer):
    bgr = square_image(RED)
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    from_bgr = analyzer.embed(bgr, channels="bgr")
    np.testing.assert_allclose(analyzer.embed(rgb, channels="rgb"), from_bgr, atol=1e-6)
    np.testing.assert_allclose(from_bgr, unit(RED), atol=2e-3)
    # read as the wrong order, the same pixels give another person's embedding
    assert float(np.dot(analyzer.embed(rgb, channels="bgr"), from_bgr)) < 0.9
    with pytest.raises(ConfigError, match="channels='bgr'.*channels='rgb'"):
        analyzer.analyze(bgr)
    with pytest.raises(DataError, match="uint8"):
        analyzer.analyze(bgr.astype(np.float32), channels="bgr")
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    np.testing.assert_allclose(analyzer.embed(rgba, channels="rgb"), from_bgr, atol=1e-6)


def test_detect_and_align_run_only_their_stages(analyzer):
    (found,) = analyzer.detect(square_image(RED), channels="bgr")
    assert found.crop is None and found.embedding is None and found.landmarks is not None
    (aligned,) = analyzer.align(square_image(RED), channels="bgr")
    assert aligned.crop.shape == (112, 112, 3) and aligned.embedding is None
    np.testing.assert_allclose(analyzer.embed_crops([aligned.crop]), [analyzer.embed(square_image(RED), channels="bgr")],
                               atol=1e-6)


def test_a_batch_gives_the_faces_of_each_image_in_order(analyzer, tmp_path):
    write_image(tmp_path / "g.png", square_image(GREEN))
    blank = np.zeros((64, 64, 3), np.uint8)
    faces = analyzer.analyze_batch([square_image(RED), blank, square_image(GREEN)], channels="bgr")
    assert [len(f) for f in faces] == [1, 0, 1]
    np.testing.assert_allclose([faces[0][0].embedding, faces[2][0].embedding], [unit(RED), unit(GREEN)], atol=2e-3)
    assert len(analyzer.analyze_batch([tmp_path / "g.png"])[0]) == 1


def test_compare_gives_the_cosine_of_the_colours_and_the_threshold_source(doubles):
    analyzer = FaceAnalyzer({**DOUBLES, "sdk": {"threshold": 0.9}})
    result = analyzer.compare(square_image(RED), square_image(GREEN), channels="bgr")
    assert isinstance(result, Comparison)
    assert result.similarity == pytest.approx(float(unit(RED) @ unit(GREEN)), abs=2e-3)
    assert (result.same, result.threshold, result.threshold_source) == (False, 0.9, "config")
    assert result.faces[0].box is not None
    same = analyzer.compare(square_image(RED), square_image((35, 40, 200)), channels="bgr")
    assert same.same and same.similarity > 0.99
    placeholder = FaceAnalyzer(DOUBLES).threshold
    assert (placeholder.value, placeholder.source) == (0.35, "placeholder")


def test_an_image_without_a_face_or_unreadable_is_a_data_error_naming_it(analyzer, tmp_path):
    write_image(tmp_path / "blank.png", np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(DataError, match="blank.png: no face found"):
        analyzer.compare(tmp_path / "blank.png", square_image(RED), channels="bgr")
    with pytest.raises(DataError, match="missing.jpg: no such file"):
        analyzer.analyze(tmp_path / "missing.jpg")


def test_a_toml_file_and_overrides_configure_the_analyzer(doubles, tmp_path):
    toml = tmp_path / "sdk.toml"
    toml.write_text('[detector]\nname = "test_square"\n[landmarker]\nname = "none"\n[aligner]\nname = "arcface_5pt"\n'
                    '[recognizer]\nname = "test_colour"\n')
    analyzer = FaceAnalyzer(toml, overrides=["sdk.threshold=0.5", "aligner.size=128"])
    assert analyzer.align(square_image(RED), channels="bgr")[0].crop.shape == (128, 128, 3)
    assert analyzer.threshold.source == "config"
    with pytest.raises(ConfigError, match="aligner.sise"):
        FaceAnalyzer(DOUBLES, overrides=["aligner.sise=1"]).prepare()


def test_nan_embeddings_raise_instead_of_deciding(doubles):
    analyzer = FaceAnalyzer({**DOUBLES, "recognizer": {"name": "test_colour", "poisoned": True}})
    with pytest.raises(NonFiniteError, match="non-finite embedding"):
        analyzer.compare(square_image(RED), square_image(GREEN), channels="bgr")


def test_search_and_identify_use_a_gallery_of_the_same_pipeline(doubles, tmp_path):
    for name, colour in (("red", RED), ("green", GREEN)):
        (tmp_path / "people" / name).mkdir(parents=True)
        write_image(tmp_path / "people" / name / "1.png", square_image(colour))
    analyzer = FaceAnalyzer({**DOUBLES, "sdk": {"threshold": 0.99}})
    gallery = analyzer.build_gallery(tmp_path / "people")
    best, other = analyzer.search(gallery, square_image((35, 45, 190)), channels="bgr", top=2)
    assert (best.identity, best.match, other.identity, other.match) == ("red", True, "green", False)
    assert best.score == pytest.approx(float(unit((35, 45, 190)) @ unit(RED)), abs=2e-3)
    faces = analyzer.analyze(np.hstack([square_image(GREEN), square_image((200, 200, 200))]), channels="bgr")
    labels = [(m.identity, m.match) for m in analyzer.identify(gallery, faces)]
    assert labels == [("green", True), ("green", False)]  # grey is nearest to green, but not green
    other_pipeline = FaceAnalyzer({**DOUBLES, "recognizer": {"name": "test_colour", "gain": 2.0}})
    with pytest.raises(ConfigError, match="different pipelines.*other recognizer settings \\(gain\\)"):
        other_pipeline.search(gallery, square_image(RED), channels="bgr")


# -- README.md: the example of the "Face SDK" section, run as written ------------------------------
def readme_example() -> str:
    """The first ```python block of README.md's "Face SDK" section."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Face SDK", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example_is_five_lines():
    assert len(readme_example().strip().splitlines()) == 5


def test_readme_example_runs_as_written(monkeypatch, capsys):
    from facex_core.testing import installed

    if not {"mediapipe"} <= set(installed("detector")) or "dlib_resnet" not in installed("recognizer") \
            or "mediapipe_mesh" not in installed("landmarker") or "dlib_chip" not in installed("aligner"):
        pytest.skip("default SDK pipeline (facex-sdk-mediapipe, facex-sdk-dlib) not installed")
    if not (PHOTOS / "obama2.jpg").is_file():
        pytest.skip("../shared/data/photos not available")
    monkeypatch.chdir(PHOTOS)
    monkeypatch.setenv("FACEX_NO_PROGRESS", "1")
    exec(compile(readme_example(), "README.md", "exec"), {})
    out = capsys.readouterr().out.split()
    assert out[0] == "1" and float(out[1]) > 0.91 and out[2] == "True" and out[3] == "recognizer"
