"""ArcFace 5-point aligner: the Umeyama estimate, landmark layouts, and FaceX-Zoo's crop of test1.jpg."""
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import facex_core
from facex_sdk_aligner.align import ARCFACE_112, LAYOUTS, alignment_matrix, five_points, umeyama

REPO = Path(__file__).resolve().parents[4]
SDK_DATA = REPO.parent / "shared" / "data" / "facexzoo-sdk"
MESH = REPO.parent / "shared" / "data" / "mesh" / "canonical_face_mesh.npz"
needs_data = pytest.mark.skipif(not (SDK_DATA / "test1_cropped.jpg").is_file(),
                                reason="../shared/data/facexzoo-sdk (FaceX-Zoo SDK reference files) not available")


def similarity(scale, angle, tx, ty):
    c, s = scale * math.cos(angle), scale * math.sin(angle)
    return np.array([[c, -s, tx], [s, c, ty], [0, 0, 1.0]])


def apply(matrix, pts):
    return pts @ matrix[:2, :2].T + matrix[:2, 2]


@pytest.fixture(scope="module")
def aligner():
    return facex_core.build("aligner", "arcface_5pt")


def test_registration_is_light():
    code = ("import sys, facex_sdk_aligner.plugin as p; p.facex_components(); "
            "print(','.join(m for m in ('torch', 'cv2', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
    assert "arcface_5pt" in facex_core.registry().names("aligner")


@pytest.mark.parametrize("seed", range(5))
def test_recovers_a_known_similarity_exactly(seed):
    rng = np.random.default_rng(seed)
    src = rng.uniform(-50, 200, (rng.integers(2, 9), 2))
    truth = similarity(rng.uniform(0.2, 3), rng.uniform(-math.pi, math.pi), *rng.uniform(-100, 100, 2))
    est = umeyama(src, apply(truth, src))
    np.testing.assert_allclose(est, truth, atol=1e-9)
    rigid = similarity(1.0, 0.3, 5, -7)
    np.testing.assert_allclose(umeyama(src, apply(rigid, src), with_scale=False), rigid, atol=1e-9)


def test_matches_linear_least_squares_on_noisy_points():
    """A 2-D similarity x' = a·x − b·y + tx, y' = b·x + a·y + ty is linear in (a, b, tx, ty):
    solving that least-squares problem directly must give Umeyama's estimate."""
    rng = np.random.default_rng(7)
    src = rng.uniform(0, 300, (5, 2))
    dst = apply(similarity(0.4, 0.2, 10, 20), src) + rng.normal(0, 2.0, (5, 2))
    rows = []
    for (x, y) in src:
        rows += [[x, -y, 1, 0], [y, x, 0, 1]]
    a, b, tx, ty = np.linalg.lstsq(np.array(rows), dst.reshape(-1), rcond=None)[0]
    np.testing.assert_allclose(umeyama(src, dst)[:2], [[a, -b, tx], [b, a, ty]], atol=1e-9)


def test_never_returns_a_reflection_and_rejects_degenerate_points():
    src = np.array([[0, 0], [10, 0], [0, 20], [7, 3.0]])
    mirrored = src * [-1, 1]
    m = umeyama(src, mirrored)
    assert np.linalg.det(m[:2, :2]) > 0
    with pytest.raises(ValueError, match="coincide"):
        umeyama(np.ones((5, 2)), src[:1].repeat(5, 0) + np.arange(5)[:, None])
    with pytest.raises(ValueError, match="same shape"):
        umeyama(src, src[:3])


def test_template_maps_onto_itself_and_scales_with_size():
    np.testing.assert_allclose(alignment_matrix(ARCFACE_112), [[1, 0, 0], [0, 1, 0]], atol=1e-9)
    np.testing.assert_allclose(alignment_matrix(ARCFACE_112, size=224), [[2, 0, 0], [0, 2, 0]], atol=1e-9)


def test_layouts_pick_the_documented_points():
    rng = np.random.default_rng(0)
    for count, groups in LAYOUTS.items():
        pts = rng.uniform(0, 100, (count, 2))
        want = np.array([pts[list(g)].mean(0) for g in groups])
        if count == 478:  # place the irises next to their own eye corners
            pts[468] = pts[[33, 133]].mean(0)
            pts[473] = pts[[362, 263]].mean(0)
            want = np.array([pts[468], pts[473], pts[1], pts[61], pts[291]])
        np.testing.assert_allclose(five_points(pts), want)
        np.testing.assert_allclose(five_points(pts.reshape(-1)), want)  # flat lists too (FaceX-Zoo's form)
    face106 = np.zeros((106, 2))
    face106[[104, 105, 54, 84, 90]] = ARCFACE_112  # 1-based 105, 106, 55, 85, 91
    np.testing.assert_allclose(five_points(face106), ARCFACE_112)
    with pytest.raises(ValueError, match="K in"):
        five_points(np.zeros((7, 2)))


def test_478_swaps_irises_given_in_the_other_order():
    pts = np.random.default_rng(1).uniform(0, 100, (478, 2))
    pts[[33, 133]], pts[[362, 263]] = [[10, 50], [30, 50]], [[60, 50], [80, 50]]
    pts[468], pts[473] = [70, 49], [20, 49]
    np.testing.assert_allclose(five_points(pts)[:2], [[20, 49], [70, 49]])


@pytest.mark.skipif(not MESH.is_file(), reason="../shared/data/mesh (MediaPipe canonical mesh) not available")
def test_mediapipe_indices_on_the_canonical_mesh():
    """On MediaPipe's canonical face seen from the front (x to the image right, y up in the model),
    the 468-layout points land in the right order and fit the ArcFace template to 1.4 px."""
    mesh = np.load(MESH)
    uv = mesh["uv"]  # texture coordinates: u grows to the image right
    assert uv[33, 0] < uv[133, 0] < uv[362, 0] < uv[263, 0] and uv[61, 0] < uv[291, 0]
    front = mesh["vertices"][:, :2] * [30, -30] + [300, 300]  # orthographic view, pixels, y down
    eye_l, eye_r, nose, mouth_l, mouth_r = five_points(front)
    assert abs(nose[0] - 300) < 1e-3 and max(eye_l[1], eye_r[1]) < nose[1] < min(mouth_l[1], mouth_r[1])
    mapped = apply(np.vstack([alignment_matrix(front), [0, 0, 1]]), five_points(front))
    assert np.abs(mapped - ARCFACE_112).max() < 2  # measured 1.4 px (nose)


def test_align_fills_crops_in_place(aligner):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (200, 300, 3), dtype=np.uint8)
    truth = similarity(2.0, 0.1, 40, 30)
    with_points = facex_core.Face(box=np.zeros(4), score=1.0, landmarks=apply(truth, ARCFACE_112))
    without = facex_core.Face(box=np.zeros(4), score=1.0)
    degenerate = facex_core.Face(box=np.zeros(4), score=1.0, landmarks=np.ones((5, 2)))
    out = aligner.align([img, img[..., 0]], [[with_points, without, degenerate], []])
    assert out[0][0] is with_points and out[1] == []
    assert with_points.crop.shape == (112, 112, 3) and with_points.crop.dtype == np.uint8
    assert without.crop is None and degenerate.crop is None
    # the crop samples the image through the inverse of the known similarity
    inv = np.linalg.inv(truth)
    expected = cv2.warpAffine(img, inv[:2], (112, 112))
    assert np.abs(with_points.crop.astype(int) - expected).mean() < 0.01
    grey = aligner.align([img[..., 0]], [[facex_core.Face(box=np.zeros(4), score=1.0,
                                                          landmarks=apply(truth, ARCFACE_112))]])[0][0]
    assert grey.crop.shape == (112, 112, 3)
    with pytest.raises(ValueError, match="2 images but 1"):
        aligner.align([img, img], [[]])


@needs_data
def test_test1_crop_is_close_to_facexzoo(aligner):
    img = cv2.imread(str(SDK_DATA / "test1.jpg"))
    ref = cv2.imread(str(SDK_DATA / "test1_cropped.jpg")).astype(np.float64)
    # FaceX-Zoo's own landmarks (PFLD, 106 points, integers): the same crop up to JPEG noise
    pfld = np.loadtxt(SDK_DATA / "test1_landmark_res0.txt").reshape(-1, 2)
    face = facex_core.Face(box=np.zeros(4), score=1.0, landmarks=pfld)
    crop = aligner.align([img], [[face]])[0][0].crop
    mad_pfld = np.abs(crop - ref).mean()
    assert mad_pfld < 3.0  # measured 2.34
    weights = SDK_DATA / "retinaface_mobilenet0.25.npz"
    if "retinaface_mnet025" not in facex_core.registry().names("detector") or not weights.is_file():
        pytest.skip("facex-sdk-retinaface not installed: detector-landmark check skipped")
    detector = facex_core.build("detector", "retinaface_mnet025", weights=str(weights), device="cpu")
    faces = aligner.align([img], detector.detect([img]))[0]
    mad_det = np.abs(faces[0].crop - ref).mean()
    mad_other = np.abs(faces[1].crop - ref).mean()
    # RetinaFace's 5 points differ from PFLD's by up to ~9 px, like a ~4 px shift of the crop
    assert mad_det < 15.0 and mad_other > 40.0  # measured 11.9 and 57.8


def test_mediapipe6_layout_maps_mouth_centre_to_template_mouth_midpoint():
    # keypoints placed exactly where the template says: the fit must be the identity
    mouth_centre = ARCFACE_112[3:5].mean(axis=0)
    ears = [[10.0, 60.0], [102.0, 60.0]]
    pts = np.vstack([ARCFACE_112[:3], mouth_centre, ears])
    np.testing.assert_allclose(alignment_matrix(pts, layout="mediapipe6"), [[1, 0, 0], [0, 1, 0]], atol=1e-9)
    # a scaled, shifted copy is undone: crop = (image - t) / 2
    np.testing.assert_allclose(alignment_matrix(pts * 2 + [30, 40], layout="mediapipe6"),
                               [[0.5, 0, -15], [0, 0.5, -20]], atol=1e-9)


def test_dlib5_layout_fits_the_eye_centres_only():
    left, right = ARCFACE_112[0], ARCFACE_112[1]
    # dlib order: image-right eye outer, inner; image-left eye outer, inner; nose base (ignored)
    pts = np.array([right + [6, 0], right - [6, 0], left - [6, 0], left + [6, 0], [56.0, 90.0]])
    m = alignment_matrix(pts, layout="dlib5")
    mapped = pts[[2, 3, 0, 1]].reshape(2, 2, 2).mean(axis=1) @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(mapped, ARCFACE_112[:2], atol=1e-9)
    with pytest.raises(ValueError, match="dlib5"):
        alignment_matrix(pts[:4], layout="dlib5")
    with pytest.raises(ValueError, match="unknown landmark layout"):
        alignment_matrix(pts, layout="nope")


def test_aligner_reads_the_face_layout():
    aligner = facex_core.build("aligner", "arcface_5pt")
    image = np.zeros((224, 224, 3), np.uint8)
    image[100:104, 80:84] = 255  # a bright dot where the image-left eye is
    mouth_centre = ARCFACE_112[3:5].mean(axis=0)
    pts = np.vstack([ARCFACE_112[:3], mouth_centre, [[10.0, 60.0], [102.0, 60.0]]]) * 2
    pts += [82 - 2 * ARCFACE_112[0, 0], 102 - 2 * ARCFACE_112[0, 1]]
    face = facex_core.Face(box=np.array([0, 0, 224, 224.0]), score=1.0, landmarks=pts, layout="mediapipe6")
    crop = aligner.align([image], [[face]])[0][0].crop
    y, x = np.unravel_index(np.argmax(crop[..., 0]), crop.shape[:2])
    assert abs(x - ARCFACE_112[0, 0]) < 1.5 and abs(y - ARCFACE_112[0, 1]) < 1.5
