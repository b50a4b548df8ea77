"""MediaPipe detector and FaceMesh landmarker on real photos, plus their geometry helpers."""
from pathlib import Path

import cv2
import numpy as np
import pytest

import facex_core
from facex_core.testing import installed
from facex_sdk_mediapipe.detector import merge, tile_grid
from facex_sdk_mediapipe.mesh import cut_square, square_region

pytestmark = pytest.mark.skipif("mediapipe" not in installed("detector"),
                                reason="the mediapipe package is not installed (see plugins/sdk/mediapipe/README.md)")

REPO = Path(__file__).resolve().parents[4]
DATA = REPO.parent / "shared" / "data"
PHOTOS = DATA / "photos"
SINGLE = ("obama.jpg", "biden.jpg", "astronaut.png")
#: ArcFace 112×112 template eyes (image-left, image-right), InsightFace's published values.
TEMPLATE_EYES = np.array([[38.2946, 51.6963], [73.5318, 51.5014]])


def photo(name):
    path = PHOTOS / name
    if not path.is_file():
        pytest.skip(f"{path} not available (shared test photos live in ../shared/data/photos)")
    return facex_core.load_image(path)


@pytest.fixture(scope="module")
def detector():
    with facex_core.build("detector", "mediapipe") as det:
        yield det


@pytest.fixture(scope="module")
def mesh():
    with facex_core.build("landmarker", "mediapipe_mesh") as lm:
        yield lm


@pytest.fixture(scope="module")
def detections(detector):
    """Per single-face photo: the image and its detector faces (computed once)."""
    out = {}
    for name in SINGLE:
        image = photo(name)
        out[name] = (image, detector.detect([image])[0])
    return out


def meshed(mesh, image, face):
    copy = facex_core.Face(box=np.array(face.box), score=face.score, landmarks=np.array(face.landmarks),
                           layout=face.layout)
    mesh.locate([image], [[copy]])
    return copy


def inside(points, box, slack=0.0):
    x1, y1, x2, y2 = box
    pad = slack * (x2 - x1)
    return np.all((points[:, 0] >= x1 - pad) & (points[:, 0] <= x2 + pad)
                  & (points[:, 1] >= y1 - pad) & (points[:, 1] <= y2 + pad))


# ---------------------------------------------------------------- helpers (hand-computed cases)

def test_tile_grid_overlaps_and_covers_the_image():
    # 1280×886, 3 tiles: side = ceil(1280·1.3/3) = 555, ceil(886·1.3/3) = 384; origins evenly spaced
    grid = tile_grid(1280, 886, 3)
    assert sorted({g[0] for g in grid}) == [0, 362, 725] and sorted({g[1] for g in grid}) == [0, 251, 502]
    assert {g[2:] for g in grid} == {(555, 384)} and len(grid) == 9
    covered = np.zeros((886, 1280), bool)
    for x, y, w, h in grid:
        covered[y:y + h, x:x + w] = True
    assert covered.all()
    assert tile_grid(1280, 886, 1) == [] and tile_grid(100, 100, 3) == []  # off, and tiles < 64 px


def test_merge_drops_contained_duplicates_but_keeps_neighbours():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 9, 9], [8, 8, 18, 18], [0, 0, 10, 10]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.95])
    # box 3 (best) covers 0 fully and 1 fully; box 2 overlaps 3 by 2·2/100 = 0.04 < 0.5
    assert merge(boxes, scores, 0.5) == [3, 2]


def test_square_region_and_padding():
    assert square_region([10, 20, 30, 60], 0.25) == (-10, 10, 60)  # side 40·1.5, centred on (20, 40)
    assert square_region([5, 5, 5.5, 5.5], 0.0) is None and square_region([0, 0, np.nan, 9], 0.2) is None
    image = np.arange(5 * 4 * 3, dtype=np.uint8).reshape(5, 4, 3)
    crop = cut_square(image, -2, -1, 6, cv2.BORDER_CONSTANT)
    assert crop.shape == (6, 6, 3)
    assert np.array_equal(crop[1:6, 2:6], image[0:5, 0:4]) and not crop[0].any() and not crop[:, :2].any()
    replicated = cut_square(image, -2, -1, 6, cv2.BORDER_REPLICATE)
    assert np.array_equal(replicated[0, 2:], image[0]) and np.array_equal(replicated[1:, 0], image[:, 0])


# ---------------------------------------------------------------- detector

@pytest.mark.parametrize("name", SINGLE)
def test_one_face_with_keypoints_in_mediapipe_order(detections, name):
    image, faces = detections[name]
    assert len(faces) == 1
    face = faces[0]
    pts = face.landmarks
    assert face.layout == "mediapipe6" and pts.shape == (6, 2) and 0.5 <= face.score <= 1.0
    height, width = image.shape[:2]
    assert 0 <= face.box[0] < face.box[2] <= width and 0 <= face.box[1] < face.box[3] <= height
    assert inside(pts[:4], face.box)                 # eyes, nose tip, mouth centre
    assert inside(pts[4:], face.box, slack=0.1)      # ear tragions sit on the box's side edges
    left_eye, right_eye, nose, mouth, left_ear, right_ear = pts
    assert left_eye[0] < right_eye[0]                # 0 = image-left eye (the subject's right)
    assert left_ear[0] < left_eye[0] and right_ear[0] > right_eye[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < mouth[1]


def test_group_photo_needs_tiles_for_all_six_faces(detector):
    image = photo("group6.jpg")
    plain = detector.detect([image])[0]
    with facex_core.build("detector", "mediapipe", tiles=3) as tiled_detector:
        tiled = tiled_detector.detect([image])[0]
    # whole image (MediaPipe as is): the ~100 px faces are ~15 px at BlazeFace's 192 px input
    assert len(plain) == 3
    assert len(tiled) == 6
    boxes = np.array([f.box for f in tiled])
    widths = boxes[:, 2] - boxes[:, 0]
    assert np.all((widths > 80) & (widths < 160))    # all six are face-sized, no partial duplicates
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=2) + np.eye(6) * 1e9
    assert gaps.min() > 100                          # distinct people
    for face in plain:                               # the whole-image faces are among them
        assert np.abs(boxes - face.box).max(axis=1).min() < 0.25 * (face.box[2] - face.box[0])
    scores = [f.score for f in tiled]
    assert scores == sorted(scores, reverse=True)


def test_max_faces_and_min_score(detector):
    image = photo("group6.jpg")
    with facex_core.build("detector", "mediapipe", tiles=3, max_faces=2) as capped:
        two = capped.detect([image])[0]
    with facex_core.build("detector", "mediapipe", tiles=3, min_score=0.9) as strict:
        confident = strict.detect([image])[0]
    assert len(two) == 2 and all(f.score >= 0.9 for f in confident) and len(confident) < 6


def test_short_range_model_finds_the_near_face(detections):
    image, faces = detections["obama.jpg"]
    with facex_core.build("detector", "mediapipe", model="short_range") as short:
        found = short.detect([image])[0]
    assert len(found) == 1
    size = faces[0].box[2] - faces[0].box[0]
    assert np.abs(found[0].box - faces[0].box).max() < 0.15 * size


def test_batch_of_mixed_inputs(detector, detections):
    image, faces = detections["obama.jpg"]
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    out = detector.detect([image, np.zeros((300, 400, 3), np.uint8), grey, bgra, grey[..., None]])
    assert [len(f) for f in out] == [1, 0, 1, 1, 1]
    np.testing.assert_allclose(out[0][0].box, faces[0].box, atol=1e-6)   # graph reuse changes nothing
    np.testing.assert_allclose(out[3][0].box, faces[0].box, atol=1e-6)   # BGRA = BGR
    size = faces[0].box[2] - faces[0].box[0]
    assert np.abs(out[2][0].box - faces[0].box).max() < 0.05 * size      # grey: same face


def test_tiny_and_degenerate_images_give_no_faces(detector):
    images = [np.zeros((1, 1, 3), np.uint8), np.full((7, 5), 200, np.uint8), np.zeros((3, 300, 3), np.uint8)]
    assert detector.detect(images) == [[], [], []]


def test_bad_input_names_the_batch_position(detector):
    with pytest.raises(TypeError, match="image 1 of the batch"):
        detector.detect([np.zeros((9, 9, 3), np.uint8), np.zeros((9, 9, 3), np.float32)])
    with pytest.raises(TypeError, match="list of images"):
        detector.detect(np.zeros((9, 9, 3), np.uint8))


def test_huge_image_box_scales_with_the_image(detector, detections):
    image, faces = detections["obama.jpg"]
    scale = 6000 / max(image.shape[:2])
    huge = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    found = detector.detect([huge])[0]
    assert len(found) == 1
    expected = faces[0].box * np.array([huge.shape[1] / image.shape[1], huge.shape[0] / image.shape[0]] * 2)
    size = expected[2] - expected[0]
    assert np.abs(found[0].box - expected).max() < 0.03 * size
    np.testing.assert_allclose(found[0].landmarks / scale, faces[0].landmarks, atol=0.03 * size / scale)


def test_close_releases_and_rebuilds_the_graph(detections):
    image, faces = detections["astronaut.png"]
    det = facex_core.build("detector", "mediapipe")
    assert det._solution is None                    # lazily built
    first = det.detect([image])[0]
    graph = det.solution
    det.detect([image])
    assert det.solution is graph                    # reused
    det.close()
    assert det._solution is None
    np.testing.assert_allclose(det.detect([image])[0][0].box, first[0].box, atol=1e-6)
    det.close()


# ---------------------------------------------------------------- FaceMesh landmarker

@pytest.mark.parametrize("name", SINGLE)
def test_mesh_landmarks_land_on_the_detected_face(mesh, detections, name):
    image, faces = detections[name]
    face = meshed(mesh, image, faces[0])
    assert face.landmarks.shape == (468, 2) and face.depth.shape == (468,) and face.layout is None
    kp = faces[0].landmarks
    inter_ocular = np.linalg.norm(kp[1] - kp[0])
    eyes = np.array([face.landmarks[[33, 133]].mean(0), face.landmarks[[362, 263]].mean(0)])
    assert np.linalg.norm(eyes - kp[:2], axis=1).max() < 0.25 * inter_ocular
    assert np.linalg.norm(face.landmarks[1] - kp[2]) < 0.3 * inter_ocular      # nose tip
    assert face.landmarks[33, 0] < face.landmarks[133, 0] < face.landmarks[362, 0] < face.landmarks[263, 0]


def test_mesh_depth_is_in_pixels_nearer_is_smaller(mesh, detections):
    image, faces = detections["obama.jpg"]
    face = meshed(mesh, image, faces[0])
    depth, pts = face.depth, face.landmarks
    assert depth[1] < depth[234] and depth[1] < depth[454]      # the nose tip is nearer than the cheeks
    # Independent scale check on MediaPipe's canonical face model (cm, z towards the camera):
    # nose-to-cheek depth over cheek-to-cheek width is (7.48 + 2.44) / (2·7.66) = 0.647.
    canonical = DATA / "mesh" / "canonical_face_mesh.npz"
    if not canonical.is_file():
        pytest.skip(f"{canonical} not available")
    with np.load(canonical, allow_pickle=False) as data:
        v = data["vertices"]
    expected = (v[1, 2] - (v[234, 2] + v[454, 2]) / 2) / (v[454, 0] - v[234, 0])
    measured = ((depth[234] + depth[454]) / 2 - depth[1]) / (pts[454, 0] - pts[234, 0])
    assert expected == pytest.approx(0.647, abs=0.01)
    assert measured == pytest.approx(expected, rel=0.2)   # measured 0.70-0.74 on the 3 photos


def test_refined_mesh_has_irises_between_the_eye_corners(detections):
    image, faces = detections["obama.jpg"]
    with facex_core.build("landmarker", "mediapipe_mesh", refine_landmarks=True) as refined:
        face = meshed(refined, image, faces[0])
    pts = face.landmarks
    assert pts.shape == (478, 2) and face.depth.shape == (478,)
    assert pts[33, 0] < pts[468, 0] < pts[133, 0] and pts[362, 0] < pts[473, 0] < pts[263, 0]


def test_mesh_of_a_box_leaving_the_image_maps_back_to_the_same_points(mesh, detections):
    image, faces = detections["obama.jpg"]
    full = meshed(mesh, image, faces[0])
    x1, y1, x2, y2 = faces[0].box.astype(int)
    part = np.ascontiguousarray(image[y1 - 10:, x1 - 10:])     # the expanded square now leaves the image
    shifted = facex_core.Face(box=faces[0].box - [x1 - 10, y1 - 10] * 2, score=1.0)
    mesh.locate([part], [[shifted]])
    offset = np.array([x1 - 10, y1 - 10])
    error = np.linalg.norm(shifted.landmarks + offset - full.landmarks, axis=1)
    assert np.median(error) < 0.02 * (x2 - x1)


def test_aligned_crop_round_trip_lands_on_the_arcface_template(mesh, detections):
    aligner = facex_core.build("aligner", "arcface_5pt")
    for name in SINGLE:
        image, faces = detections[name]
        face = aligner.align([image], [[meshed(mesh, image, faces[0])]])[0][0]
        crop = face.crop
        assert crop.shape == (112, 112, 3)
        # a tight aligned crop, its box the whole image: the margin padding lets FaceMesh find it
        again = facex_core.Face(box=np.array([0.0, 0.0, 112.0, 112.0]), score=1.0)
        mesh.locate([crop], [[again]])
        assert again.landmarks is not None, name
        eyes = np.array([again.landmarks[[33, 133]].mean(0), again.landmarks[[362, 263]].mean(0)])
        assert np.linalg.norm(eyes - TEMPLATE_EYES, axis=1).max() < 6.0, name


def test_mesh_keeps_landmarks_when_no_face_is_found(mesh, detections):
    image, faces = detections["obama.jpg"]
    blank = np.zeros_like(image)
    kept = np.array(faces[0].landmarks)
    face = facex_core.Face(box=np.array(faces[0].box), score=0.9, landmarks=kept, layout="mediapipe6")
    degenerate = facex_core.Face(box=np.array([5.0, 5.0, 5.0, 5.0]), score=0.9)
    outside = facex_core.Face(box=np.array([-500.0, -500.0, -300.0, -300.0]), score=0.9)
    out = mesh.locate([blank], [[face, degenerate, outside]])
    assert out[0][0] is face and face.landmarks is kept and face.layout == "mediapipe6" and face.depth is None
    assert degenerate.landmarks is None and outside.landmarks is None


def test_mesh_batch_of_mixed_inputs(mesh, detections):
    image, faces = detections["astronaut.png"]
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    batch_faces = [[facex_core.Face(box=np.array(faces[0].box), score=1.0)] for _ in range(3)]
    out = mesh.locate([image, np.zeros((50, 50, 3), np.uint8), grey, bgra],
                      [batch_faces[0], [], batch_faces[1], batch_faces[2]])
    assert [len(f) for f in out] == [1, 0, 1, 1]
    assert all(f[0].landmarks.shape == (468, 2) for f in out if f)
    np.testing.assert_allclose(out[3][0].landmarks, out[0][0].landmarks, atol=1e-6)
    size = faces[0].box[2] - faces[0].box[0]
    assert np.median(np.linalg.norm(out[2][0].landmarks - out[0][0].landmarks, axis=1)) < 0.03 * size
    with pytest.raises(ValueError, match="2 images but 1 face lists"):
        mesh.locate([image, image], [[]])
