"""dlib's face recognition ResNet (``dlib.face_recognition_model_v1``): 150×150 chips → 128-D embeddings.

The model wants RGB chips cut exactly as ``dlib.get_face_chip`` cuts them (aligner ``dlib_chip``,
size 150). Its raw descriptors are not unit vectors (norms 1.36–1.59 on the test faces); dlib compares
them by Euclidean distance with 0.6 as the same-person limit. FaceX embeddings are L2-normalised and
compared by cosine, so :meth:`DlibResnetRecognizer.embed` returns ``d / ‖d‖``; the equivalent
cosine threshold is in the README ("Threshold").
"""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

import dlib
import numpy as np

from facex_core import Recognizer, as_rgb

from .common import model_path
from .plugin import DLIB_RESNET_THRESHOLD

#: Chip side the network was trained on.
CHIP_SIZE = 150


class DlibResnetRecognizer(Recognizer):
    """150×150 BGR chips → N×128 float32 L2-normalised embeddings (``raw_descriptors`` keeps dlib's)."""

    #: cosine threshold equivalent to dlib's 0.6 Euclidean rule (README, "Threshold").
    default_threshold = DLIB_RESNET_THRESHOLD
    # what facex-sdk checks when it composes a pipeline (facex_sdk.fit)
    crop_template: ClassVar[str] = "dlib_chip"
    crop_size: ClassVar[int | None] = CHIP_SIZE
    crop_channels: ClassVar[str] = "bgr"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.model_file = model_path(config.models_dir, "resnet")
        self.model = dlib.face_recognition_model_v1(str(self.model_file))

    def raw_descriptors(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """dlib's own N×128 descriptors (float64, not normalised), for dlib's 0.6 Euclidean rule."""
        chips = []
        for i, crop in enumerate(crops):
            rgb = as_rgb(crop)
            if rgb.shape[:2] != (CHIP_SIZE, CHIP_SIZE):
                raise ValueError(f"crop {i}: dlib_resnet needs {CHIP_SIZE}×{CHIP_SIZE} chips cut like "
                                 f"dlib.get_face_chip (aligner dlib_chip, size {CHIP_SIZE}); got "
                                 f"{rgb.shape[1]}×{rgb.shape[0]}")
            chips.append(rgb)
        out = np.zeros((len(chips), 128), dtype=np.float64)
        step = self.config.batch_size
        for start in range(0, len(chips), step):
            batch = self.model.compute_face_descriptor(chips[start:start + step], self.config.num_jitters)
            out[start:start + len(batch)] = np.array([np.array(d) for d in batch])
        return out

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        raw = self.raw_descriptors(crops)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        return (raw / np.where(norms > 0, norms, 1.0)).astype(np.float32)
