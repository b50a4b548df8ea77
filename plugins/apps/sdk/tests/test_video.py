"""Videos: `sdk annotate` and `FaceAnalyzer.video` on a short video written here with OpenCV's
VideoWriter (a coloured square moving right: its position in every frame is known)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from facex_core import main, write_image
from facex_sdk import FaceAnalyzer
from fakeplug_sdk import PIPELINE, square_image  # tests/doubles (put on sys.path by conftest.py)

FRAMES, STEP, RED = 12, 12, (30, 40, 200)


def square_x(index: int) -> int:
    return 20 + STEP * index


def centre_x(box) -> float:
    """The box's centre (JPEG ringing widens a box on both sides alike)."""
    return (box[0] + box[2]) / 2


@pytest.fixture
def video(tmp_path):
    """12 frames (10 fps, MJPEG .avi) of a red 60×60 square whose left edge is at ``square_x(i)``."""
    import cv2

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 120))
    for i in range(FRAMES):
        frame = np.zeros((120, 320, 3), np.uint8)
        frame[30:90, square_x(i):square_x(i) + 60] = RED
        writer.write(frame)
    writer.release()
    return path


def test_every_nth_frame_is_processed_and_the_others_keep_its_faces(doubles, video):
    analyzer = FaceAnalyzer({"detector": {"name": "test_square"}, "landmarker": {"name": "none"}})
    frames = list(analyzer.video(video, every=3))
    assert [f.index for f in frames] == list(range(FRAMES))
    assert [f.processed for f in frames] == [i % 3 == 0 for i in range(FRAMES)]
    for frame in frames:
        shown = frame.index - frame.index % 3  # the frame whose faces it carries
        (face,) = frame.faces
        assert abs(centre_x(face.box) - square_x(shown) - 30) <= 3 and frame.time == pytest.approx(frame.index / 10)
        assert frame.image.shape == (120, 320, 3) and frame.error is None


def test_annotate_writes_a_video_and_a_json_line_per_frame_with_gallery_identities(doubles, video, tmp_path, capsys):
    import cv2

    people = tmp_path / "people"
    for name, colour in (("red", RED), ("green", (40, 190, 60))):
        (people / name).mkdir(parents=True)
        write_image(people / name / "1.png", square_image(colour))
    gallery = tmp_path / "people.npz"
    assert main(["sdk", "gallery", "build", str(people), "--out", str(gallery), *PIPELINE]) == 0
    capsys.readouterr()
    out = tmp_path / "annotated"
    assert main(["sdk", "annotate", str(video), "--every", "2", "--gallery", str(gallery), "--out", str(out),
                 *PIPELINE, "--set=sdk.threshold=0.99"]) == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["frame"] for r in rows] == list(range(FRAMES))
    assert [r["processed"] for r in rows] == [i % 2 == 0 for i in range(FRAMES)]
    assert all(len(r["faces"]) == 1 and r["faces"][0]["identity"] == "red" for r in rows)
    assert all(abs(centre_x(r["faces"][0]["box"]) - square_x(r["frame"] - r["frame"] % 2) - 30) <= 3 for r in rows)
    assert "1 files, 6 faces, 0 errors" in captured.err
    written = cv2.VideoCapture(str(out / "clip.avi"))
    count = 0
    while True:
        ok, frame = written.read()
        if not ok:
            break
        count += 1
        assert frame.shape == (120, 320, 3)
    assert count == FRAMES and rows[0]["annotated"] == str(out / "clip.avi")
    assert [p.name for p in out.iterdir()] == ["clip.avi"]  # no temporary left


def test_a_video_opencv_cannot_read_is_an_error_line_and_replaces_nothing(doubles, tmp_path, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_text("not a video")
    out = tmp_path / "annotated"
    out.mkdir()
    (out / "broken.mp4").write_bytes(b"an earlier good output")
    assert main(["sdk", "annotate", str(bad), "--out", str(out), *PIPELINE]) == 1
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["file"] == str(bad) and "broken.mp4" in row["error"]
    assert (out / "broken.mp4").read_bytes() == b"an earlier good output"
