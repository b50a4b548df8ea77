"""MegaFace protocols end to end: image keys, noise cleaning, masked probes, errors, contract."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import facex_core
from facex_core import MaskAdder, MaskedImage, tar_at_far
from facex_core.testing import check_protocol
from facex_protocol_megaface import plugin
from facex_protocol_megaface.plugin import MegaFaceConfig, MegaFaceMaskConfig
from facex_protocol_megaface.protocol import TAR_TARGETS, MaskedMegaFaceProtocol, MegaFaceProtocol

PEOPLE = {"Aaron_Eckhart": [136, 221, 300, 301], "Adam Brody": [10001, 10002, 10003],
          "Adrienne_Frantz": [27683, 27693, 27699, 27701, 27829], "Zico": [5]}


def write_set(tmp_path, n_distractors=400):
    """Devkit JSONs and insightface noise lists in their real formats; returns config fields."""
    paths, ids = [], []
    for name, numbers in PEOPLE.items():
        for n in numbers:
            paths.append(f"{name}/{name}_{n}.png")
            ids.append(name)
    distractors = [f"{i % 1000:03d}/{1000 + i}@N00/{5000 + i}_{i % 3}.jpg" for i in range(n_distractors)]
    (tmp_path / "facescrub_features_list.json").write_text(json.dumps({"path": paths, "id": ids}))
    (tmp_path / "megaface_features_list.json_400_1").write_text(json.dumps({"path": distractors}))
    (tmp_path / "facescrub_noises.txt").write_text(
        "#Please strictly follow the rules\nAaron_Eckhart_221.png\nAdam_Brody_10003.png\nAlec_Baldwin_2121.png\n")
    (tmp_path / "megaface_noises.txt").write_text(
        f"#Please strictly follow the rules\n{distractors[3]}\n1\t{distractors[250]}\n{distractors[399]}\n"
        "999/999@N00/999_0.jpg\n")
    return dict(facescrub_list=str(tmp_path / "facescrub_features_list.json"),
                megaface_list=str(tmp_path / "megaface_features_list.json_400_1"),
                image_root=str(tmp_path / "crops"), image_ext=".jpg",
                facescrub_noises=str(tmp_path / "facescrub_noises.txt"),
                megaface_noises=str(tmp_path / "megaface_noises.txt"))


def random_features(keys, rng, dim=8):
    v = rng.standard_normal((len(keys), dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return dict(zip(keys, v))


def reference(gallery_keys, query_keys, distractor_keys, features, ids, noisy_probe, noisy_distractor,
              max_rank):
    """Plain loops: clean the noise, then count for every genuine pair the distractors that score
    strictly higher, and take TAR@FAR from the core over all genuine and impostor scores."""
    def cleaned(keys):
        rows = [np.asarray(features[k], dtype=np.float64) for k in keys]
        out = list(rows)
        for j in range(len(keys)):
            if noisy_probe[j]:
                same = [rows[i] for i in range(len(keys)) if ids[i] == ids[j] and not noisy_probe[i]]
                mean = np.sum(same, axis=0)
                out[j] = mean / np.linalg.norm(mean)
        return out

    gallery, queries = cleaned(gallery_keys), cleaned(query_keys)
    distractors = [np.zeros(8) if noisy_distractor[m] else np.asarray(features[k], dtype=np.float64)
                   for m, k in enumerate(distractor_keys)]
    impostors = np.array([[float(q @ d) for d in distractors] for q in queries])
    hits, genuine = np.zeros(max_rank), []
    for j in range(len(ids)):
        for i in range(len(ids)):
            if i != j and ids[i] == ids[j]:
                s = float(gallery[i] @ queries[j])
                above = int(np.sum(impostors[j] > s))
                hits += np.arange(1, max_rank + 1) > above
                genuine.append(s)
    labels = np.r_[np.ones(len(genuine)), np.zeros(impostors.size)]
    fars = {name: f for name, f in TAR_TARGETS.items() if f * impostors.size >= 1}
    core = tar_at_far(np.r_[genuine, impostors.ravel()], labels, fars.values())
    return hits / len(genuine), {name: core[f] for name, f in fars.items()}


def test_images_are_devkit_paths_under_the_crop_folders(tmp_path):
    proto = MegaFaceProtocol(MegaFaceConfig(**write_set(tmp_path)))
    images = proto.images()
    assert images[0] == "facescrub_crop/Aaron_Eckhart/Aaron_Eckhart_136.jpg"
    assert images[4] == "facescrub_crop/Adam Brody/Adam Brody_10001.jpg"
    assert images[13] == "megaface_crop/000/1000@N00/5000_0.jpg"
    assert len(images) == 13 + 400 and len(set(images)) == len(images)
    masked = MaskedMegaFaceProtocol(MegaFaceMaskConfig(**write_set(tmp_path))).images()
    assert masked[13] == "masked_facescrub_crop/Aaron_Eckhart/Aaron_Eckhart_136.jpg"
    assert len(masked) == 2 * 13 + 400


@pytest.mark.parametrize("chunk_size", [400, 64, 7])
def test_megaface_matches_dense_loops(tmp_path, chunk_size):
    proto = MegaFaceProtocol(MegaFaceConfig(**write_set(tmp_path), chunk_size=chunk_size, max_rank=5))
    features = random_features(proto.images(), np.random.default_rng(chunk_size))
    result = proto.evaluate(features)

    ids = proto.probe_list.ids
    noisy_probe = [k.endswith(("Aaron_Eckhart_221.jpg", "Adam Brody_10003.jpg")) for k in proto.probe_keys]
    noisy_distractor = np.isin(np.arange(400), [3, 250, 399])
    rates, tars = reference(proto.probe_keys, proto.probe_keys, proto.distractor_keys, features, ids,
                            noisy_probe, noisy_distractor, max_rank=5)
    assert [result.metrics[f"rank-{r}"] for r in range(1, 6)] == rates.tolist()
    assert {k: v for k, v in result.metrics.items() if k.startswith("tar@")} == pytest.approx(tars)
    assert set(tars) == {"tar@far=1e-3"}  # 13 x 400 impostor pairs resolve only FAR 1e-3
    assert result.details["unresolved_fars"] == ["tar@far=1e-6", "tar@far=1e-5", "tar@far=1e-4"]
    assert result.details["facescrub_noise_replaced"] == 2
    assert result.details["megaface_noise_zeroed"] == 3
    assert result.details["n_genuine_pairs"] == 4 * 3 + 3 * 2 + 5 * 4
    assert result.primary == "rank-1"
    (curve,) = result.curves
    assert curve.name == "cmc" and curve.x.tolist() == [1, 2, 3, 4, 5]
    assert curve.y.tolist() == rates.tolist()


def test_masked_probes_against_unmasked_galleries(tmp_path):
    proto = MaskedMegaFaceProtocol(MegaFaceMaskConfig(**write_set(tmp_path), chunk_size=150))
    features = random_features(proto.images(), np.random.default_rng(5))
    result = proto.evaluate(features)
    noisy = [k.endswith(("Aaron_Eckhart_221.jpg", "Adam Brody_10003.jpg")) for k in proto.probe_keys]
    rates, tars = reference(proto.probe_keys, proto.masked_keys, proto.distractor_keys, features,
                            proto.probe_list.ids, noisy, np.isin(np.arange(400), [3, 250, 399]), max_rank=10)
    assert [result.metrics[f"rank-{r}"] for r in range(1, 11)] == rates.tolist()
    assert result.metrics["tar@far=1e-3"] == pytest.approx(tars["tar@far=1e-3"])
    assert result.details["masked_probes"] is True
    # Masked and unmasked crops really are different inputs: swapping them changes the numbers.
    unmasked = MegaFaceProtocol(MegaFaceConfig(**write_set(tmp_path))).evaluate(features)
    assert unmasked.metrics != result.metrics


def test_without_noise_lists_nothing_is_cleaned(tmp_path):
    fields = write_set(tmp_path)
    fields.update(facescrub_noises="", megaface_noises="")
    proto = MegaFaceProtocol(MegaFaceConfig(**fields))
    result = proto.evaluate(random_features(proto.images(), np.random.default_rng(6)))
    assert result.details["facescrub_noise_replaced"] == result.details["megaface_noise_zeroed"] == 0


def test_missing_feature_names_the_image(tmp_path):
    proto = MegaFaceProtocol(MegaFaceConfig(**write_set(tmp_path)))
    features = random_features(proto.images(), np.random.default_rng(0))
    del features["megaface_crop/250/1250@N00/5250_1.jpg"]
    with pytest.raises(KeyError, match="megaface_crop/250/1250@N00/5250_1.jpg"):
        proto.evaluate(features)


def test_image_list_must_hold_every_image(tmp_path):
    fields = write_set(tmp_path)
    proto = MaskedMegaFaceProtocol(MegaFaceMaskConfig(**fields))
    listed = proto.probe_keys + proto.distractor_keys
    (tmp_path / "img_list.txt").write_text("\n".join(listed) + "\n")
    (tmp_path / "masked_list.txt").write_text("\n".join(proto.masked_keys[1:]) + "\n")
    fields.update(image_list_file=str(tmp_path / "img_list.txt"))
    assert len(MegaFaceProtocol(MegaFaceConfig(**fields)).images()) == 413
    fields.update(masked_image_list_file=str(tmp_path / "masked_list.txt"))
    with pytest.raises(ValueError, match="masked_list.txt: image 'masked_facescrub_crop/Aaron_Eckhart/"
                                         "Aaron_Eckhart_136.jpg' needed by the protocol"):
        MaskedMegaFaceProtocol(MegaFaceMaskConfig(**fields)).images()


def test_no_identity_with_two_images_is_an_error(tmp_path):
    (tmp_path / "fs.json").write_text(json.dumps({"path": ["A/A_1.png", "B/B_1.png"], "id": ["A", "B"]}))
    (tmp_path / "mf.json").write_text(json.dumps({"path": ["1/2/3.jpg"]}))
    proto = MegaFaceProtocol(MegaFaceConfig(facescrub_list=str(tmp_path / "fs.json"),
                                            megaface_list=str(tmp_path / "mf.json"), image_root="r"))
    with pytest.raises(ValueError, match="no identity has two images"):
        proto.evaluate(random_features(proto.images(), np.random.default_rng(0)))


def test_config_validation():
    with pytest.raises(ValueError, match="max_rank"):
        MegaFaceConfig(facescrub_list="a", megaface_list="b", image_root="r", max_rank=0)
    with pytest.raises(ValueError, match="image_ext"):
        MegaFaceConfig(facescrub_list="a", megaface_list="b", image_root="r", image_ext="jpg")


@pytest.mark.parametrize("name", ["megaface", "megaface_mask"])
def test_contract(tmp_path, name):
    check_protocol(facex_core.build("protocol", name, **write_set(tmp_path)))


def test_registration_is_light_and_points_at_the_protocols():
    components = {c.name: c for c in plugin.facex_components()}
    assert components["megaface"].factory == "facex_protocol_megaface.protocol:MegaFaceProtocol"
    assert components["megaface_mask"].factory == "facex_protocol_megaface.protocol:MaskedMegaFaceProtocol"
    code = ("import sys, facex_protocol_megaface.plugin; "
            "print([m for m in ('numpy', 'torch', 'facex_protocol_megaface.protocol') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- MegaFace-Mask end to end: FaceScrub-like crops -> `data mask` -> megaface_mask reads the masked probes.
# The features come from the pixels (an 8x8 grey thumbnail), so what the protocol scores is exactly
# what is in the files: masking the probes must change the result, and the result must equal the
# reference computed on the masked files' features.


class LowerFaceMask(MaskAdder):
    """Test double: paints the lower 45% of an aligned crop dark blue (a surgical mask, roughly)."""

    def templates(self) -> list[str]:
        return ["blue"]

    def add_masks(self, images, seeds, *, aligned=False, templates=None, faces=None):
        out = []
        for img in images:
            masked = img.copy()
            masked[int(0.55 * img.shape[0]):] = (120, 40, 10)
            out.append(MaskedImage(masked, template="blue", params={}))
        return out

    def lift_template(self, photo, matte):
        raise NotImplementedError("the test double draws a fixed template")


def smooth(rng, size=32) -> np.ndarray:
    return cv2.resize(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8), (size, size), interpolation=cv2.INTER_CUBIC)


def write_crops(root: Path, paths: list[str], rng) -> None:
    """Crops whose identity is their folder: a per-folder pattern plus per-image noise (every
    distractor has a folder of its own)."""
    bases: dict[str, np.ndarray] = {}
    for rel in paths:
        base = bases.setdefault(rel.rsplit("/", 1)[0], smooth(rng).astype(np.float64))
        img = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / rel), img)


def pixel_features(root: Path, keys: list[str]) -> dict[str, np.ndarray]:
    """8-d features (the reference's size): a fixed projection of the 8x8 grey thumbnail of each file."""
    projection = np.random.default_rng(1).standard_normal((64, 8)).astype(np.float32)
    feats = {}
    for k in keys:
        grey = cv2.cvtColor(cv2.imread(str(root / k)), cv2.COLOR_BGR2GRAY)
        v = cv2.resize(grey, (8, 8), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
        v = (v - v.mean()) @ projection
        feats[k] = v / np.linalg.norm(v)
    return feats


def test_masked_probes_from_data_mask_are_scored_against_unmasked_galleries(tmp_path):
    from facex_masks import mask_dataset

    fields = write_set(tmp_path)
    unmasked = MegaFaceProtocol(MegaFaceConfig(**fields))
    root = Path(fields["image_root"])
    rng = np.random.default_rng(0)
    write_crops(root, unmasked.probe_keys + unmasked.distractor_keys, rng)

    summary = mask_dataset(root / "facescrub_crop", root / "masked_facescrub_crop", LowerFaceMask(None),
                           aligned=True, progress=False)
    assert summary["masked"] == len(unmasked.probe_keys) == 13

    proto = MaskedMegaFaceProtocol(MegaFaceMaskConfig(**fields))
    assert proto.masked_keys == [k.replace("facescrub_crop/", "masked_facescrub_crop/", 1) for k in proto.probe_keys]
    records = (root / "masked_facescrub_crop" / "mask_templates.txt").read_text().splitlines()
    assert sorted(f"masked_facescrub_crop/{line.rsplit(' ', 1)[0]}" for line in records) == sorted(proto.masked_keys)

    features = pixel_features(root, proto.images())  # fails if a masked crop is missing
    masked_result = proto.evaluate(features)
    plain_result = unmasked.evaluate(features)
    ids = proto.probe_list.ids
    noisy = [k.endswith(("Aaron_Eckhart_221.jpg", "Adam Brody_10003.jpg")) for k in proto.probe_keys]
    noisy_distractors = np.isin(np.arange(400), [3, 250, 399])
    rates, _ = reference(proto.probe_keys, proto.masked_keys, proto.distractor_keys, features, ids,
                           noisy, noisy_distractors, max_rank=10)
    assert [masked_result.metrics[f"rank-{r}"] for r in range(1, 11)] == pytest.approx(rates.tolist())
    # the crops are easy unmasked; covering the lower face costs identification accuracy
    assert plain_result.metrics["rank-1"] == pytest.approx(1.0)
    assert masked_result.metrics["rank-1"] < plain_result.metrics["rank-1"] - 0.1
    cos = [float(features[a] @ features[b]) for a, b in zip(proto.probe_keys, proto.masked_keys)]
    assert max(cos) < 0.95  # every masked probe really differs from its unmasked crop
