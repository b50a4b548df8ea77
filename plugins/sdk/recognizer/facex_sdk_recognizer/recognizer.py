"""Recognizers: aligned crops → L2-normalised embeddings, from a FaceX checkpoint or an ONNX model.

Both feed the network the input convention it was trained with: a checkpoint's ``[data]`` (channel order,
mean, std, upper-half-face crop; FaceX-Zoo's BGR, ``(x − 127.5) / 128`` by default), an ONNX file's as
:func:`facex_core.onnx_convention` recognises it or as configured; N×3×H×W at the network's input size
(crops of another size are resized bilinearly, like :class:`facex_core.Preprocess`). With
``flip = "sum"`` the embedding of the mirrored crop is added before normalising (FaceX's evaluation
default). The ONNX recognizer needs neither torch nor FaceX plugins at run time.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Sequence

import cv2
import numpy as np

from facex_core import OnnxFaceModel, Recognizer, as_bgr, onnx_convention

#: FaceX's crop normalisation (FaceX-Zoo's mean and std).
MEAN, STD = 127.5, 128.0
#: Rows kept by the upper-half-face ("crop_eye") setting, from a 112×112 crop.
EYE_ROWS = 60


def preprocess(crops: Sequence[Any], size: tuple[int, int], crop_eye: bool = False, channels: str = "BGR",
               mean: float = MEAN, std: float = STD) -> np.ndarray:
    """Crops → N×3×H×W float32 batch, the same numbers as ``facex_core.Preprocess`` gives."""
    height, width = size
    out = np.empty((len(crops), 3, height, width), dtype=np.float32)
    for i, crop in enumerate(crops):
        img = as_bgr(crop)
        if crop_eye:
            if img.shape[0] != 112:
                img = cv2.resize(img, (112, 112), interpolation=cv2.INTER_LINEAR)
            img = img[:EYE_ROWS]
        if img.shape[:2] != (height, width):
            img = cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)
        img = img[:, :, ::-1] if channels == "RGB" else img
        out[i] = ((img.astype(np.float32) - mean) / std).transpose(2, 0, 1)
    return out


def l2_normalise(feats: np.ndarray) -> np.ndarray:
    feats = np.asarray(feats, dtype=np.float32)
    return feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)


def _required(path: str, field: str, what: str) -> Path:
    if not path:
        raise ValueError(f"{field}: required ({what})")
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"{field}: {p} does not exist ({what})")
    return p


class FaceXRecognizer(Recognizer):
    """A FaceX training checkpoint as a recognizer: the backbone is rebuilt from the config embedded
    in the checkpoint (its plugin must be installed) and its ``backbone.*`` weights are loaded strictly."""

    # what facex-sdk checks when it composes a pipeline (facex_sdk.fit): FaceX trains on ArcFace-template
    # BGR crops; other sizes are resized to the network's input
    crop_template: ClassVar[str] = "arcface"
    crop_size: ClassVar[int | None] = None
    crop_channels: ClassVar[str] = "bgr"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        import torch

        import facex_core

        path = _required(config.checkpoint, "checkpoint",
                         "a FaceX training checkpoint, e.g. runs/<name>/checkpoints/last.pt")
        #: the weights file: `facex-core sdk calibrate` stores its threshold record beside it
        self.model_file = path
        # only the backbone (and the data section's crop settings) is resolved: a checkpoint keeps
        # working where its head or training-mode plugin is not installed
        exp = facex_core.Experiment.from_checkpoint(path)
        self.backbone = exp.build_backbone()
        facex_core.load_backbone_weights(self.backbone, path)
        self.device = facex_core.resolve_device(config.device)
        self.backbone.to(self.device).eval()
        #: the checkpoint's input convention ([data] channels, mean, std, crop_eye)
        self.preprocess = facex_core.preprocess_of(exp.data)
        self.crop_eye = self.preprocess.crop_eye
        self.input_size = tuple(self.backbone.input_size)
        self.embedding_size = int(self.backbone.embedding_size)
        self.backbone_name = exp.backbone.name if exp.backbone is not None else "?"
        self._torch = torch

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        torch = self._torch
        import facex_core

        if len(crops) == 0:
            return np.zeros((0, self.embedding_size), dtype=np.float32)
        out = []
        with torch.inference_mode():
            for start in range(0, len(crops), self.config.batch_size):
                chunk = crops[start:start + self.config.batch_size]
                size = None if self.crop_eye else self.input_size
                batch = torch.stack([self.preprocess(as_bgr(c), size) for c in chunk])
                batch = batch.to(self.device)
                feats = self.backbone(batch).float()
                if self.config.flip == "sum":
                    feats = feats + self.backbone(torch.flip(batch, dims=[3])).float()
                out.append(feats.cpu().numpy())
        return l2_normalise(np.concatenate(out))


class OnnxRecognizer(Recognizer):
    """An ONNX face model (N×3×H×W in, N×D out: ``facex-core export onnx``, InsightFace's packs, ...) run with
    onnxruntime; H and W are read from the model (``input_size`` is used only if they are symbolic), the input
    convention from the config where set, else from the model (:func:`facex_core.onnx_convention`)."""

    # what facex-sdk checks when it composes a pipeline (facex_sdk.fit): FaceX trains on ArcFace-template
    # BGR crops; other sizes are resized to the network's input
    crop_template: ClassVar[str] = "arcface"
    crop_size: ClassVar[int | None] = None
    crop_channels: ClassVar[str] = "bgr"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        import onnxruntime as ort

        path = _required(config.model, "model", "an ONNX face model, e.g. one written by `facex-core export onnx`")
        self.model_file = path  # where `facex-core sdk calibrate` stores its threshold record beside
        self.onnx = OnnxFaceModel(path, list(config.providers) or ort.get_available_providers(), config.threads,
                                  default_size=tuple(config.input_size))
        self.input_size, self.embedding_size = self.onnx.input_size, self.onnx.embedding_size
        recognised = onnx_convention(path)
        chosen = {"channels": None if config.channels == "auto" else config.channels, "mean": config.mean,
                  "std": config.std, "crop_eye": config.crop_eye}
        #: what the model is fed (``channels``, ``mean``, ``std``, ``crop_eye``) and where each value came from
        self.convention = {k: recognised[k] if v is None else v for k, v in chosen.items()}
        self.convention_source = {k: recognised["source"] if v is None else "config" for k, v in chosen.items()}

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, self.embedding_size or 0), dtype=np.float32)
        out = []
        for start in range(0, len(crops), self.config.batch_size):
            batch = preprocess(crops[start:start + self.config.batch_size], self.input_size, **self.convention)
            if self.config.flip == "sum":
                both = self.onnx.run(np.concatenate([batch, np.ascontiguousarray(batch[..., ::-1])]))
                feats = both[: len(batch)].astype(np.float32) + both[len(batch):].astype(np.float32)
            else:
                feats = self.onnx.run(batch).astype(np.float32)
            out.append(feats.reshape(len(batch), -1))
        return l2_normalise(np.concatenate(out))
