"""What the InsightFace importers share: the files arcface_torch writes and its input convention.

arcface_torch saves ``backbone.pth`` = ``backbone.module.state_dict()`` (no prefix) and resume files
``checkpoint_gpu_<rank>.pt`` holding it under ``state_dict_backbone``; ``torch2onnx.py`` exports the
network at opset 11 with input ``data`` (BatchNorm folded into the convolutions before it). Its
input is **RGB**, ``(x - 127.5) / 127.5`` (``inference.py``; the model packs' ArcFaceONNX feeds
``blobFromImages(1/127.5, mean 127.5, swapRB)``), unless an ONNX graph normalises its input itself.
"""
from __future__ import annotations

from typing import Any

from ..importer import WeightsImporter
from ..sources import ONNX, TORCH

#: arcface_torch's input convention.
CONVENTION = {"channels": "RGB", "mean": 127.5, "std": 127.5, "crop_eye": False}


class InsightFaceImporter(WeightsImporter):
    """Base of the InsightFace importers (state dicts and ONNX files)."""

    framework = "insightface"
    formats = (TORCH, ONNX)

    def convention(self) -> dict[str, Any]:
        return dict(CONVENTION)
