"""Mask-adder test double, installed as mask_adder ``stripes`` (distribution facex-mask-stripes) by the
``mask_double`` fixture (tests/conftest.py), and the small images the mask tests feed it."""
from pathlib import Path

import cv2
import numpy as np

from facex_core import Component, MaskAdder, MaskedImage, config, hookimpl, option

COLOURS = {"black": (20, 20, 20), "blue": (200, 90, 30), "white": (235, 235, 235)}


@config
class StripeConfig:
    """Test double settings."""

    start: float = option(0.55, doc="fraction of an aligned crop's height where the mask starts")
    extra_templates: tuple = option((), doc="extra template PNGs (their stems become template names)")


class StripeAdder(MaskAdder):
    """Paints rows from `start` down in the template colour, shifted by a seeded 0..3 rows."""

    def templates(self):
        return sorted(COLOURS) + [Path(p).stem for p in self.config.extra_templates]

    def add_masks(self, images, seeds, *, aligned=False, templates=None, faces=None):
        out = []
        for k, (img, seed) in enumerate(zip(images, seeds)):
            if float(np.asarray(img).std()) < 1.0:
                out.append(MaskedImage(None, error="no face found"))
                continue
            rng = np.random.default_rng(seed)
            name = templates[k] if templates and templates[k] else sorted(COLOURS)[int(rng.integers(3))]
            shift = int(rng.integers(0, 4))
            top = int(img.shape[0] * (self.config.start if aligned else 0.6)) + shift
            masked = np.array(img, copy=True)
            masked[top:] = COLOURS.get(name, (0, 255, 0))
            out.append(MaskedImage(masked, template=name, params={"shift": shift, "aligned": aligned}))
        return out

    def lift_template(self, photo, matte):
        texture = np.zeros((256, 256, 4), np.uint8)
        texture[:, :, :3] = cv2.resize(photo, (256, 256))
        texture[:, :, 3] = cv2.resize(matte, (256, 256))
        return texture


@hookimpl
def facex_components():
    return [Component(kind="mask_adder", name="stripes", summary="test double: paints the lower face",
                      config=StripeConfig, factory="fakeplug_stripes:StripeAdder")]


def face(rng, size=112) -> np.ndarray:
    """A smooth random image (JPEG keeps it within a few levels, unlike pixel noise)."""
    small = rng.integers(0, 256, (14, 14, 3), dtype=np.uint8)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)


def write_folder(root: Path, ids=3, per_id=4, seed=0) -> list[str]:
    rng = np.random.default_rng(seed)
    rels = []
    for i in range(ids):
        (root / f"person_{i}").mkdir(parents=True, exist_ok=True)
        for k in range(per_id):
            rel = f"person_{i}/{k:03d}.jpg"
            cv2.imwrite(str(root / rel), face(rng))
            rels.append(rel)
    return rels
