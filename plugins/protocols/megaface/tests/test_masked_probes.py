"""MegaFace-Mask end to end: FaceScrub-like crops on disk -> `data mask` -> megaface_mask reads the masked probes.

The features come from the pixels (an 8x8 grey thumbnail), so what the protocol scores is exactly
what is in the files: masking the probes must change the result, and the result must equal the
reference computed on the masked files' features.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from facex_core import MaskAdder, MaskedImage
from facex_protocol_megaface.plugin import MegaFaceConfig, MegaFaceMaskConfig
from facex_protocol_megaface.protocol import MaskedMegaFaceProtocol, MegaFaceProtocol

_spec = importlib.util.spec_from_file_location("megaface_protocol_fixtures",
                                               Path(__file__).with_name("test_megaface_protocol.py"))
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)  # write_set, reference: the devkit fixture and the loop reference


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
    from facex_core import mask_dataset

    fields = fixtures.write_set(tmp_path)
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
    rates, _ = fixtures.reference(proto.probe_keys, proto.masked_keys, proto.distractor_keys, features, ids,
                                  noisy, noisy_distractors, max_rank=10)
    assert [masked_result.metrics[f"rank-{r}"] for r in range(1, 11)] == pytest.approx(rates.tolist())
    # the crops are easy unmasked; covering the lower face costs identification accuracy
    assert plain_result.metrics["rank-1"] == pytest.approx(1.0)
    assert masked_result.metrics["rank-1"] < plain_result.metrics["rank-1"] - 0.1
    cos = [float(features[a] @ features[b]) for a, b in zip(proto.probe_keys, proto.masked_keys)]
    assert max(cos) < 0.95  # every masked probe really differs from its unmasked crop
