"""SDK test doubles, installed as plugin distribution ``fakeplug-sdk`` by the ``doubles`` fixture (conftest.py).

A face is a non-black rectangle of an image (one per connected region), its embedding the
rectangle's colour; images over 4 megapixels make the detector fail. The detector declares its
landmark layout (checked against the aligner); the recognizer declares nothing (not checked).
"""
import cv2
import numpy as np

from facex_core import Component, Detector, Face, Recognizer, config, hookimpl, option


@config
class SquareConfig:
    """Test double."""

    min_score: float = option(0.5, doc="unused score threshold")


@config
class ColourConfig:
    """Test double."""

    model: str = option("", doc="a file standing for the weights")
    default_threshold: float | None = option(None, doc="documented threshold, if any")
    gain: float = option(1.0, doc="a setting that changes the embeddings")
    poisoned: bool = option(False, doc="return NaN embeddings, as a network with NaN weights does")
    crop_size: int = option(0, ge=0, doc="the crop side it takes (0: any)")


class SquareDetector(Detector):
    landmark_layouts = ("arcface5",)  # what facex_sdk.fit checks

    def detect(self, images):
        out = []
        for img in images:
            if img.shape[0] * img.shape[1] > 4e6:
                raise MemoryError("image too large for the double")
            count, _, stats, _ = cv2.connectedComponentsWithStats((img.max(axis=2) > 0).astype(np.uint8))
            faces = []
            for x1, y1, w, h, _ in stats[1:count].astype(float):
                rel = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]])
                faces.append(Face(box=np.array([x1, y1, x1 + w, y1 + h]), score=0.9,
                                  landmarks=rel * [w, h] + [x1, y1]))
            out.append(faces)
        return out


class ColourRecognizer(Recognizer):
    def __init__(self, config):
        super().__init__(config)
        self.model_file = config.model or None
        self.crop_size = config.crop_size or None

    def embed(self, crops):
        centre = np.stack([c[40:72, 40:72].reshape(-1, 3).mean(axis=0) for c in crops]) * self.config.gain
        if self.config.poisoned:
            centre = centre * np.nan
        return (centre / np.linalg.norm(centre, axis=1, keepdims=True)).astype(np.float32)


@hookimpl
def facex_components():
    return [Component(kind="detector", name="test_square", summary="test double", config=SquareConfig,
                      factory="fakeplug_sdk:SquareDetector"),
            Component(kind="recognizer", name="test_colour", summary="test double", config=ColourConfig,
                      factory="fakeplug_sdk:ColourRecognizer")]


#: The doubles as a pipeline (arcface_5pt is the real aligner).
PIPELINE = ["--set=detector.name=test_square", "--set=landmarker.name=none", "--set=aligner.name=arcface_5pt",
            "--set=recognizer.name=test_colour"]


def square_image(colour, size=(160, 200)) -> np.ndarray:
    """An image whose one "face" is a 100×100 square of ``colour``."""
    img = np.zeros((*size, 3), np.uint8)
    img[30:130, 50:150] = colour
    return img
