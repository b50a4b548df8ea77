"""Augmentation: reproducible from the seed, each transform does what it says."""
import cv2
import numpy as np
import pytest

from facex_core.data.augment import AugmentConfig, augment
from facex_core.data.datasets import FaceImageDataset, ImageLoadError


@pytest.fixture
def face():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (112, 112, 3), dtype=np.uint8)
    return cv2.GaussianBlur(img, (0, 0), 2)


def test_same_seed_same_image_and_off_by_default(face):
    cfg = AugmentConfig(crop_resize=1, rotation=1, color_jitter=1, blur=1, downscale=1, erase=1)
    a, b = augment(face, cfg, 7), augment(face, cfg, 7)
    assert np.array_equal(a, b) and not np.array_equal(a, augment(face, cfg, 8))
    assert not AugmentConfig().active


@pytest.mark.parametrize("field", ["crop_resize", "rotation", "color_jitter", "blur", "downscale", "erase"])
def test_each_transform_changes_the_image_and_keeps_its_shape(face, field):
    out = augment(face, AugmentConfig(**{field: 1.0}), 3)
    assert out.shape == face.shape and out.dtype == np.uint8 and not np.array_equal(out, face)


def test_grayscale_gives_three_equal_channels(face):
    out = augment(face, AugmentConfig(grayscale=1.0), 0)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])


def test_unreadable_images_are_replaced_and_logged_or_raise(tmp_path, face):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), face)
    (tmp_path / "bad.png").write_bytes(b"corrupt")
    samples = [("0.png", 0), ("bad.png", 1), ("1.png", 1), ("2.png", 2)]
    strict = FaceImageDataset(tmp_path, samples)
    with pytest.raises(ImageLoadError, match="bad.png"):
        strict[(1, 0)]
    log = tmp_path / "bad_images.txt"
    lenient = FaceImageDataset(tmp_path, samples, bad_log=log)
    img, label = lenient[(1, 5)]
    assert img.shape == (3, 112, 112) and label in (0, 1, 2)
    assert lenient[(1, 5)][1] == label  # the replacement is deterministic
    assert "bad.png" in log.read_text()
