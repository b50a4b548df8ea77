"""FMA-3D mask adder: rasteriser vs a per-pixel loop, template placement, seeds, augmentation, shading, lifting."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import facex_core
from facex_core import ARCFACE_TEMPLATE_112 as ARCFACE_112
from facex_mask_fma3d import augment
from facex_mask_fma3d.adder import lift, render_mask
from facex_mask_fma3d.mesh import canonical_mesh, fit_canonical, mesh_five_points
from facex_mask_fma3d.render import rasterize, sample, uv_map

REPO = Path(__file__).resolve().parents[4]
DATA = REPO.parent / "shared" / "data"
OBAMA = DATA / "photos" / "obama.jpg"
MASKED = DATA / "facexzoo-sdk" / "test4_mask.jpg"
needs_data = pytest.mark.skipif(not OBAMA.is_file() or not MASKED.is_file(),
                                reason="../shared/data (test photos) not available")


def _has(kind, name):
    try:
        return name in facex_core.registry().names(kind)
    except Exception:  # noqa: BLE001 - a broken registry means the components are absent here
        return False


needs_mesh = pytest.mark.skipif(not (_has("detector", "mediapipe") and _has("landmarker", "mediapipe_mesh")),
                                reason="MediaPipe detector/landmarker components (facex-sdk-mediapipe) not installed")


def adder(**values):
    return facex_core.build("mask_adder", "fma3d", **values)


@pytest.fixture(scope="module")
def obama():
    return facex_core.load_image(OBAMA)


@pytest.fixture(scope="module")
def obama_face(obama):
    det, mesh = facex_core.build("detector", "mediapipe"), facex_core.build("landmarker", "mediapipe_mesh")
    face = max(mesh.locate([obama], det.detect([obama]))[0], key=lambda f: f.box[2] - f.box[0])
    assert face.landmarks is not None and len(face.landmarks) == 468
    return face


def test_registration_is_light_and_mesh_ships_as_package_data():
    code = ("import sys, facex_mask_fma3d.plugin as p; p.facex_components(); "
            "print(','.join(m for m in ('torch', 'cv2', 'numpy', 'mediapipe') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
    assert "fma3d" in facex_core.registry().names("mask_adder")
    mesh = canonical_mesh()
    assert mesh.vertices.shape == (468, 3) and mesh.uv.shape == (468, 2) and mesh.triangles.shape == (898, 3)
    data = Path(sys.modules["facex_mask_fma3d.mesh"].__file__).parent / "data"
    assert "Apache" in (data / "NOTICE").read_text() and "Apache" in (data / "LICENSE-MediaPipe").read_text()
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert "data/canonical_face_mesh.npz" in pyproject and "data/NOTICE" in pyproject


def test_rasterizer_matches_a_per_pixel_loop():
    """Two overlapping triangles with known depths: per pixel the nearer one wins, and the UV map is the
    triangle's affine map; checked against a plain loop with its own barycentric solve."""
    pts = np.array([[1.3, 1.2], [17.6, 2.1], [3.4, 14.7], [15.2, 16.3], [4.1, 3.3]])
    depth = np.array([5.0, 5.0, 5.0, 1.0, 1.0])  # triangle 1 (3, 4, 1) is nearer
    tris = np.array([[0, 1, 2], [3, 4, 1]])
    uv = np.array([[2.0, 2.0], [30.0, 3.0], [4.0, 28.0], [29.0, 27.0], [6.0, 5.0]])  # texture pixels + 0.5
    raster = rasterize(pts, depth, tris, 20, 20)
    maps = uv_map(raster, uv, tris)
    checker = ((np.indices((32, 32)).sum(axis=0) // 1) % 2 * 255).astype(np.uint8)
    sampled = sample(checker, maps, cv2.INTER_NEAREST)
    for y in range(20):
        for x in range(20):
            best, best_z, best_uv = -1, np.inf, None
            for t, (a, b, c) in enumerate(tris):
                m = np.array([[pts[b, 0] - pts[a, 0], pts[c, 0] - pts[a, 0]],
                              [pts[b, 1] - pts[a, 1], pts[c, 1] - pts[a, 1]]])
                l1, l2 = np.linalg.solve(m, [x - pts[a, 0], y - pts[a, 1]])
                l0 = 1 - l1 - l2
                if min(l0, l1, l2) < -1e-9:
                    continue
                z = l0 * depth[a] + l1 * depth[b] + l2 * depth[c]
                if z < best_z:
                    best, best_z = t, z
                    best_uv = l0 * uv[a] + l1 * uv[b] + l2 * uv[c] - 0.5
            assert raster.triangle[y, x] == best, (x, y)
            if best >= 0:
                np.testing.assert_allclose(maps[y, x], best_uv, atol=1e-9)
                assert sampled[y, x] == checker[int(np.floor(best_uv[1] + 0.5)), int(np.floor(best_uv[0] + 0.5))]
    assert (raster.triangle == 1).sum() > 20 and (raster.triangle == 0).sum() > 20


def test_canonical_fit_lands_on_the_arcface_template():
    points, depth = fit_canonical(ARCFACE_112)
    assert np.abs(mesh_five_points(points) - ARCFACE_112).max() < 3.0  # least-squares residual, pixels
    assert depth[1] < depth[234] and depth[1] < depth[454]  # nose tip nearer than the face sides


def _mask_rows(before, after):
    changed = np.abs(after.astype(int) - before.astype(int)).sum(axis=2) > 12
    return changed, np.nonzero(changed.any(axis=1))[0]


@needs_data
@needs_mesh
def test_every_template_covers_the_lower_face_of_a_photo(obama, obama_face):
    m = adder()
    names = m.templates()
    assert len(names) >= 8
    out = m.add_masks([obama] * len(names), list(range(len(names))), templates=names)
    lms = obama_face.landmarks
    eye_y = lms[[33, 133, 362, 263]][:, 1].max()
    mouth = np.round(lms[[13, 14]].mean(axis=0)).astype(int)
    for name, res in zip(names, out):
        assert res.error is None and res.template == name and res.params["face_model"] == "facemesh"
        changed, rows = _mask_rows(obama, res.image)
        assert rows.min() > eye_y, name  # nothing above the eyes
        assert changed[mouth[1], mouth[0]], name  # the mouth is covered
        assert changed.sum() > 0.25 * (lms[152, 1] - lms[1, 1]) * (lms[454, 0] - lms[234, 0]), name


@needs_data
@needs_mesh
def test_every_template_covers_the_lower_face_of_an_aligned_crop(obama, obama_face):
    matrix = cv2.estimateAffinePartial2D(mesh_five_points(obama_face.landmarks), ARCFACE_112)[0]
    crop = cv2.warpAffine(obama, matrix, (112, 112))
    blank = np.full((112, 112, 3), 90, np.uint8)  # FaceMesh finds nothing: the canonical fit takes over
    m = adder()
    names = m.templates()
    out = m.add_masks([crop] * len(names) + [blank], list(range(len(names) + 1)), aligned=True,
                      templates=names + [names[0]])
    assert [r.params["face_model"] for r in out] == ["facemesh"] * len(names) + ["canonical_fit"]
    for res, image in zip(out, [crop] * len(names) + [blank]):
        changed, rows = _mask_rows(image, res.image)
        assert rows.min() > ARCFACE_112[:2, 1].max() and changed[92, 56], res.template


def test_same_seed_gives_identical_bytes_and_other_seeds_differ():
    image = np.full((112, 112, 3), 140, np.uint8)
    m = adder(aligned_facemesh=False)
    a = m.add_masks([image] * 6, [7, 7, 1, 2, 3, 4], aligned=True)
    assert a[0].image.tobytes() == a[1].image.tobytes() and a[0].params == a[1].params
    assert a[0].template == a[1].template
    assert len({r.image.tobytes() for r in a[1:]}) == 5
    json.dumps([r.params for r in a])  # the recorded draws are JSON-serialisable
    b = adder(aligned_facemesh=False).add_masks([image], [7], aligned=True)
    assert b[0].image.tobytes() == a[0].image.tobytes()


def test_augmentation_frequencies_match_fma3d_probabilities():
    cfg = adder().config
    draws = [augment.draw(np.random.default_rng(s), cfg) for s in range(4000)]
    freq = lambda key, test: np.mean([test(d[key]) for d in draws])  # noqa: E731
    assert abs(freq("flip", bool) - 0.5) < 0.03
    assert abs(freq("shrink", lambda v: v is not None) - 0.5) < 0.03
    assert abs(freq("erode", lambda v: v > 0) - 0.2 * 4 / 5) < 0.025  # iterations 0..4 when chosen
    assert abs(freq("contrast", lambda v: v is not None) - 0.5) < 0.03
    factors = [d["contrast"] for d in draws if d["contrast"] is not None]
    assert 0.5 <= min(factors) < 0.52 and 0.78 < max(factors) <= 0.8
    assert {tuple(d["shrink"]) for d in draws if d["shrink"]} == {(x, y) for x in range(5) for y in range(5)}
    off = augment.draw(np.random.default_rng(0), adder(augment=False).config)
    assert off == {"flip": False, "shrink": None, "erode": 0, "contrast": None}
    m = adder(aligned_facemesh=False)
    chosen = [r.template for r in m.add_masks([np.full((48, 48, 3), 99, np.uint8)] * 60, range(60), aligned=True)]
    assert len(set(chosen)) >= 8 and set(chosen) <= set(m.templates())  # drawn from the seed


def test_augmentations_do_what_they_record():
    tpl = adder().template("surgical_blue")
    flipped = augment.apply(tpl, {"flip": True})
    assert np.array_equal(flipped, tpl[:, ::-1])
    shrunk = augment.apply(tpl, {"shrink": [4, 2]})
    assert not shrunk[:2].any() and not shrunk[:, :4].any() and not shrunk[-2:].any()
    assert np.array_equal(shrunk[2:-2, 4:-4], cv2.resize(tpl, (248, 252), interpolation=cv2.INTER_LINEAR))
    eroded = augment.apply(tpl, {"erode": 3})
    assert (eroded[..., 3] > 0).sum() < (tpl[..., 3] > 0).sum()
    darker = augment.apply(tpl, {"contrast": 0.6})
    np.testing.assert_array_equal(darker[..., :3], np.round(tpl[..., :3] * 0.6).astype(np.uint8))


def _lit_face(side=224):
    ramp = np.linspace(230, 70, side)  # light from the image's left
    image = np.repeat(np.repeat(ramp[None, :, None], side, axis=0), 3, axis=2).astype(np.uint8)
    face = facex_core.Face(box=np.array([0, 0, side, side], float), score=1.0, landmarks=ARCFACE_112 * side / 112)
    return image, face


def test_mask_is_lit_like_the_face():
    image, face = _lit_face()
    lit = adder(augment=False, shading=1.0).add_masks([image], [0], templates=["surgical_white"], faces=[[face]])[0]
    flat = adder(augment=False, shading=0.0).add_masks([image], [0], templates=["surgical_white"], faces=[[face]])[0]
    assert lit.params["face_model"] == "canonical_fit"
    changed, _ = _mask_rows(image, flat.image)
    cols = np.nonzero(changed.any(axis=0))[0]
    mid = (cols.min() + cols.max()) // 2
    grey = lambda img: cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(float)  # noqa: E731
    left = lambda img: grey(img)[:, :mid][changed[:, :mid]].mean()  # noqa: E731
    right = lambda img: grey(img)[:, mid:][changed[:, mid:]].mean()  # noqa: E731
    assert left(lit.image) - right(lit.image) > 40  # the face's light falls on the mask
    assert abs(left(flat.image) - right(flat.image)) < 12  # unshaded: the template's own colour


@needs_data
@needs_mesh
def test_lifting_a_rendered_template_gives_it_back(obama, obama_face):
    pts, depth = obama_face.landmarks, obama_face.depth
    tpl = adder().template("surgical_blue")
    out, alpha = render_mask(obama, pts, depth, tpl, shading=0.0)
    back = lift(out, alpha * 255.0, pts, depth, mirror_fill=False)
    inside = (back[..., 3] > 250) & (cv2.erode(tpl[..., 3], np.ones((5, 5), np.uint8)) == 255)
    assert inside.sum() > 15000
    assert np.abs(back[..., :3].astype(float) - tpl[..., :3])[inside].mean() < 3.0


@needs_data
@needs_mesh
def test_lift_template_from_a_masked_photo_and_use_it(tmp_path, obama):
    photo = facex_core.load_image(MASKED)
    hsv = cv2.cvtColor(photo, cv2.COLOR_BGR2HSV)
    matte = ((hsv[..., 1] < 40) & (hsv[..., 2] > 150)).astype(np.uint8)  # the white surgical mask
    matte[:, : photo.shape[1] // 2] = 0  # the masked face is the right one of the pair
    count, labels, stats, _ = cv2.connectedComponentsWithStats(matte)
    matte = (labels == 1 + np.argmax(stats[1:, cv2.CC_STAT_AREA])).astype(np.uint8) * 255
    tex = adder().lift_template(photo, matte)
    assert tex.shape == (256, 256, 4) and tex.dtype == np.uint8
    uv = canonical_mesh().uv * 256
    on = tex[..., 3] > 128
    assert on[int(uv[14, 1]), int(uv[14, 0])] and on[int(uv[2, 1]), int(uv[2, 0])]  # mouth, nose base
    assert not on[: int(uv[33, 1])].any()  # nothing above the eyes
    assert tex[..., :3][on].mean() > 150  # white
    path = tmp_path / "lifted_white.png"
    cv2.imwrite(str(path), tex)
    m = adder(extra_templates=(str(path),), augment=False)
    assert "lifted_white" in m.templates()
    res = m.add_masks([obama], [0], templates=["lifted_white"])[0]
    assert res.error is None and res.template == "lifted_white"


@needs_mesh
def test_bad_inputs_give_per_image_errors():
    blank = np.zeros((120, 160, 3), np.uint8)
    face_img, face = _lit_face(112)
    out = adder().add_masks([blank, np.zeros((5, 5, 2), np.uint8), face_img], [0, 1, 2],
                            faces=[[], [], [face]])
    assert out[0].image is None and out[0].error == "no face"
    assert out[1].image is None and "bad image" in out[1].error
    assert out[2].error is None and out[2].image.shape == face_img.shape
    bad = adder().add_masks([face_img], [0], templates=["no_such_mask"], faces=[[face]])[0]
    assert bad.image is None and "no_such_mask" in bad.error
    with pytest.raises(ValueError, match="no face"):
        adder().lift_template(blank, np.ones((120, 160), np.uint8))
    with pytest.raises(ValueError, match="not a decodable|missing"):
        adder(extra_templates=("/nonexistent/mask.png",))
    with pytest.raises(ValueError, match="unknown templates"):
        adder(template_pool=("nope",))
