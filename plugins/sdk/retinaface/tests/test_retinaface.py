"""RetinaFace MobileNet-0.25 detector: architecture, pre/post-processing, FaceX-Zoo's outputs on test1.jpg."""
import ast
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import facex_core
from facex_core.testing import torch_threads
from facex_sdk_retinaface.detector import MISSING_WEIGHTS, as_bgr, decode, nms, priors
from facex_sdk_retinaface.network import RetinaFaceMNet025

REPO = Path(__file__).resolve().parents[4]
SDK_DATA = REPO.parent / "shared" / "data" / "facexzoo-sdk"
WEIGHTS = SDK_DATA / "retinaface_mobilenet0.25.npz"
needs_data = pytest.mark.skipif(not WEIGHTS.is_file(),
                                reason="../shared/data/facexzoo-sdk (FaceX-Zoo SDK reference files) not available")

#: FaceX-Zoo's detector on test1.jpg under current torch: (x1, y1, x2, y2, score).
REFERENCE = np.array([[96.45, 74.03, 318.96, 381.91, 1.000],
                      [528.38, 59.16, 691.07, 275.61, 0.998]])


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):  # shared 2-core machine: small forwards gain nothing from threads
        yield


@pytest.fixture(scope="module")
def detector():
    if not WEIGHTS.is_file():
        pytest.skip("../shared/data/facexzoo-sdk (FaceX-Zoo SDK reference files) not available")
    return facex_core.build("detector", "retinaface_mnet025", weights=str(WEIGHTS), device="cpu")


@pytest.fixture(scope="module")
def test1():
    if not (SDK_DATA / "test1.jpg").is_file():
        pytest.skip("../shared/data/facexzoo-sdk (FaceX-Zoo SDK reference files) not available")
    return cv2.imread(str(SDK_DATA / "test1.jpg"))


def as_rows(faces):
    return np.array([[*f.box, f.score] for f in faces]).reshape(-1, 5)


def test_registration_is_light_and_documented():
    code = ("import sys, facex_sdk_retinaface.plugin as p; p.facex_components(); "
            "print(','.join(m for m in ('torch', 'cv2', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
    entry = facex_core.registry().get("detector", "retinaface_mnet025")
    fields = {row["name"]: row for row in facex_core.describe_fields(entry.component.config)}
    assert fields["confidence_threshold"]["default"] == 0.7 and fields["nms_threshold"]["default"] == 0.2
    assert all(row["doc"] for row in fields.values())


def test_missing_weights_say_where_to_get_them(tmp_path):
    with pytest.raises(ValueError, match="face_detection_retina.pkl") as err:
        facex_core.build("detector", "retinaface_mnet025")
    assert "github.com/JDAI-CV/FaceX-Zoo" in str(err.value) and str(err.value) == MISSING_WEIGHTS
    with pytest.raises(FileNotFoundError, match="FaceX-Zoo"):
        facex_core.build("detector", "retinaface_mnet025", weights=str(tmp_path / "nope.pkl"))
    with pytest.raises(ValueError, match="confidence_threshold"):
        facex_core.build("detector", "retinaface_mnet025", weights="x.npz", confidence_threshold=1.5)


def test_device_follows_the_core_rule():
    # facex_core.resolve_device: checked before the weights are read, with an error naming the device
    with pytest.raises(ValueError, match="device 'tpu:0'"):
        facex_core.build("detector", "retinaface_mnet025", weights="x.npz", device="tpu:0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            facex_core.build("detector", "retinaface_mnet025", weights="x.npz", device="cuda:0")


def test_wrong_weights_are_named(tmp_path):
    sd = {k: v.numpy() for k, v in RetinaFaceMNet025().state_dict().items()}
    sd.pop("ClassHead.0.conv1x1.bias")
    sd["extra.weight"] = np.zeros(3, np.float32)
    np.savez(tmp_path / "bad.npz", **sd)
    with pytest.raises(ValueError, match=r"1 missing .*ClassHead\.0\.conv1x1\.bias.*1 unexpected"):
        facex_core.build("detector", "retinaface_mnet025", weights=str(tmp_path / "bad.npz"))


def test_priors_follow_the_reference_loop():
    height, width = 37, 53
    expected = []
    for sizes, step in zip(((16, 32), (64, 128), (256, 512)), (8, 16, 32)):
        for i in range(math.ceil(height / step)):
            for j in range(math.ceil(width / step)):
                for s in sizes:
                    expected.append([(j + 0.5) * step / width, (i + 0.5) * step / height, s / width, s / height])
    got = priors(height, width)
    assert got.shape == (len(expected), 4) and got.dtype == np.float32
    np.testing.assert_allclose(got, np.array(expected), rtol=1e-6)


def test_decode_zero_offsets_give_the_anchor_and_variances_scale_offsets():
    anchors = np.array([[0.5, 0.25, 0.2, 0.4]], np.float32)
    boxes, points = decode(np.zeros((1, 4), np.float32), np.zeros((1, 10), np.float32), anchors, 100, 200)
    np.testing.assert_allclose(boxes, [[40, 10, 60, 90]], atol=1e-4)
    np.testing.assert_allclose(points, np.tile([[50, 50]], (1, 5, 1)), atol=1e-4)
    loc = np.array([[1.0, -1.0, math.log(2) / 0.2, 0.0]], np.float32)
    landms = np.tile(np.array([[1.0, 2.0]], np.float32), (1, 5))
    boxes, points = decode(loc, landms, anchors, 100, 200)
    # centre moves by 0.1·prior size, width doubles: cx = 0.52·100, cy = (0.25 − 0.04)·200, w = 40, h = 80
    np.testing.assert_allclose(boxes, [[32, 2, 72, 82]], atol=1e-3)
    np.testing.assert_allclose(points[0, 0], [52, 66], atol=1e-3)


def test_nms_uses_plus_one_areas_and_keeps_score_order():
    boxes = np.array([[0, 0, 9, 9], [1, 1, 10, 10], [20, 20, 29, 29], [0, 0, 9, 4]], np.float32)
    scores = np.array([0.9, 0.95, 0.8, 0.7], np.float32)
    # IoU(0,1) = 81/119 > 0.2; IoU(0,3) = 50/100 > 0.2 but box 0 is suppressed first by box 1;
    # IoU(1,3) = 36/(100+50-36) = 0.316 > 0.2
    assert nms(boxes, scores, 0.2).tolist() == [1, 2]
    assert nms(boxes, scores, 0.7).tolist() == [1, 0, 2, 3]  # IoU(1,0) = 0.68, IoU(0,3) = 0.5
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.2).tolist() == []


def test_image_forms():
    gray = np.full((5, 7), 9, np.uint8)
    assert as_bgr(gray).shape == (5, 7, 3) and as_bgr(gray[..., None]).shape == (5, 7, 3)
    bgra = np.dstack([np.full((5, 7, 3), 4, np.uint8), np.zeros((5, 7), np.uint8)])
    np.testing.assert_array_equal(as_bgr(bgra), bgra[..., :3])
    with pytest.raises(TypeError, match="uint8"):
        as_bgr(np.zeros((5, 7, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        as_bgr(np.zeros((5, 7, 2), np.uint8))


@needs_data
def test_network_matches_facexzoo_module_tree():
    """Every module path, type and conv/BN/activation setting equals FaceX-Zoo's pickled detector's."""
    tree = {}
    for line in (SDK_DATA / "retinaface_mobilenet0.25.modules.txt").read_text().splitlines():
        path, rest = line.strip().split(": ", 1)
        kind, _, settings = rest.partition(" ")
        tree[path] = (kind, ast.literal_eval(settings))
    ours = {name: mod for name, mod in RetinaFaceMNet025().named_modules() if name}
    leaves = {p: v for p, v in tree.items() if v[0] in ("Conv2d", "BatchNorm2d", "LeakyReLU")}
    assert {p for p, m in ours.items() if type(m).__name__ in ("Conv2d", "BatchNorm2d", "LeakyReLU")} == set(leaves)
    for path, (kind, settings) in leaves.items():
        mod = ours[path]
        assert type(mod).__name__ == kind, path
        for key, value in settings.items():
            assert getattr(mod, key) == value, (path, key)
    assert sum(p.numel() for p in RetinaFaceMNet025().parameters()) == 426_608  # FaceX-Zoo's count


@needs_data
def test_npz_keys_load_strictly():
    with np.load(WEIGHTS) as data:
        keys = set(data.files)
    assert len(keys) == 300 and keys == set(RetinaFaceMNet025().state_dict())


def test_test1_matches_facexzoo(detector, test1):
    faces = detector.detect([test1])[0]
    rows = as_rows(faces)
    assert rows.shape == (2, 5)
    np.testing.assert_allclose(rows[:, :4], REFERENCE[:, :4], atol=2.0)
    np.testing.assert_allclose(rows[:, 4], REFERENCE[:, 4], atol=0.01)
    # FaceX-Zoo's own file (integer boxes, written by the torch of 2020) is within 4 px too
    old = np.loadtxt(SDK_DATA / "test1_detect_res.txt")
    assert np.abs(rows[:, :4] - old[:, :4]).max() < 4.5
    for f in faces:  # landmarks: eyes above the mouth, image-left before image-right, inside the box
        eye_l, eye_r, nose, mouth_l, mouth_r = f.landmarks
        assert f.landmarks.shape == (5, 2) and eye_l[0] < eye_r[0] and mouth_l[0] < mouth_r[0]
        assert max(eye_l[1], eye_r[1]) < nose[1] < min(mouth_l[1], mouth_r[1])
        assert np.all((f.landmarks >= f.box[:2]) & (f.landmarks <= f.box[2:]))
    # the first face's 5 points agree with FaceX-Zoo's PFLD landmarks (1-based 105, 106, 55, 85, 91)
    pfld = np.loadtxt(SDK_DATA / "test1_landmark_res0.txt").reshape(-1, 2)[[104, 105, 54, 84, 90]]
    assert np.abs(faces[0].landmarks - pfld).max() < 12  # measured 9.3 px (nose tip)


def test_batch_equals_one_by_one(detector, test1):
    images = [test1, np.ascontiguousarray(test1[:, ::-1]), test1[50:350, 50:400], test1]
    together = detector.detect(images)
    assert len(together) == 4
    for img, faces in zip(images, together):
        alone = as_rows(detector.detect([img])[0])
        np.testing.assert_allclose(as_rows(faces), alone, atol=1e-3)
    width = test1.shape[1]
    flipped = as_rows(together[1])  # the mirrored image finds the mirrored faces
    np.testing.assert_allclose(np.sort(width - flipped[:, 2]), np.sort(REFERENCE[:, 0]), atol=5)
    assert len(together[2]) == 1  # the crop holds one face
    assert detector.detect([]) == []


def test_grayscale_rgba_and_single_channel(detector, test1):
    gray = cv2.cvtColor(test1, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(test1, cv2.COLOR_BGR2BGRA)
    out = detector.detect([gray, gray[..., None], bgra])
    for faces in out[:2]:
        np.testing.assert_allclose(as_rows(faces)[:, :4], REFERENCE[:, :4], atol=6)
    np.testing.assert_allclose(as_rows(out[2]), as_rows(detector.detect([test1])[0]), atol=1e-4)
    with pytest.raises(TypeError, match="list of images"):
        detector.detect(test1)


def test_huge_image_is_downsized_and_mapped_back(detector, test1):
    # a 4000×3000 canvas holding test1 at twice its size: run at 2048×1536 (faces back at ~1× scale)
    huge = np.full((3000, 4000, 3), 127, np.uint8)
    top, left = 1100, 1500
    huge[top:top + 836, left:left + 1636] = cv2.resize(test1, (1636, 836), interpolation=cv2.INTER_LINEAR)
    rows = as_rows(detector.detect([huge])[0])
    assert rows.shape == (2, 5) and np.all(rows[:, 4] > 0.99)
    mapped = (rows[:, :4] - [left, top, left, top]) / 2
    # two resamplings (×2, ×0.512) move the regressed boxes by up to 5.7 px of ~300 px faces
    np.testing.assert_allclose(mapped, REFERENCE[:, :4], atol=8)


def test_no_face_gives_an_empty_list(detector):
    rng = np.random.default_rng(0)
    blank = np.full((240, 320, 3), 127, np.uint8)
    noise = rng.integers(0, 256, (200, 300), dtype=np.uint8)
    tiny = np.zeros((1, 1, 3), np.uint8)
    assert detector.detect([blank, noise, tiny, np.zeros((7, 5, 3), np.uint8)]) == [[], [], [], []]


def test_max_faces_and_threshold(test1):
    if not WEIGHTS.is_file():
        pytest.skip("../shared/data/facexzoo-sdk (FaceX-Zoo SDK reference files) not available")
    one = facex_core.build("detector", "retinaface_mnet025", weights=str(WEIGHTS), device="cpu", max_faces=1)
    assert len(one.detect([test1])[0]) == 1
    strict = facex_core.build("detector", "retinaface_mnet025", weights=str(WEIGHTS), device="cpu",
                              confidence_threshold=0.9995)
    assert len(strict.detect([test1])[0]) == 1  # the second face scores 0.998
