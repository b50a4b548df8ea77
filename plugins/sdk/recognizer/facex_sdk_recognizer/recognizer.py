"""Recognizers: aligned crops → L2-normalised embeddings, from a FaceX checkpoint or an ONNX export.

Both feed the network what FaceX trains and evaluates on: BGR, ``(x − 127.5) / 128``, N×3×H×W at the
backbone's input size (crops of another size are resized bilinearly, like :func:`facex_core.to_tensor`);
with ``flip = "sum"`` the embedding of the mirrored crop is added before normalising (FaceX's
evaluation default). The ONNX recognizer needs neither torch nor FaceX plugins at run time.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Sequence

import cv2
import numpy as np

from facex_core import Recognizer, as_bgr

#: FaceX's crop normalisation (FaceX-Zoo's mean and std).
MEAN, STD = 127.5, 128.0
#: Rows kept by the upper-half-face ("crop_eye") setting, from a 112×112 crop.
EYE_ROWS = 60


def preprocess(crops: Sequence[Any], size: tuple[int, int], crop_eye: bool = False) -> np.ndarray:
    """Crops → N×3×H×W float32 batch, the same numbers as ``facex_core.to_tensor`` gives."""
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
        out[i] = ((img.astype(np.float32) - MEAN) / STD).transpose(2, 0, 1)
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
        self.crop_eye = bool(exp.data.crop_eye) if exp.data is not None else False
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
                batch = torch.stack([facex_core.to_tensor(as_bgr(c), size, self.crop_eye) for c in chunk])
                batch = batch.to(self.device)
                feats = self.backbone(batch).float()
                if self.config.flip == "sum":
                    feats = feats + self.backbone(torch.flip(batch, dims=[3])).float()
                out.append(feats.cpu().numpy())
        return l2_normalise(np.concatenate(out))


class OnnxRecognizer(Recognizer):
    """An ONNX backbone (``facex-core export onnx``: input ``images`` N×3×H×W, output N×D) run with
    onnxruntime; H and W are read from the model (``input_size`` is used only if they are symbolic)."""

    # what facex-sdk checks when it composes a pipeline (facex_sdk.fit): FaceX trains on ArcFace-template
    # BGR crops; other sizes are resized to the network's input
    crop_template: ClassVar[str] = "arcface"
    crop_size: ClassVar[int | None] = None
    crop_channels: ClassVar[str] = "bgr"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        import onnxruntime as ort

        path = _required(config.model, "model", "an ONNX file written by `facex-core export onnx`")
        self.model_file = path  # where `facex-core sdk calibrate` stores its threshold record beside
        providers = list(config.providers) or ort.get_available_providers()
        options = ort.SessionOptions()
        if config.threads:
            options.intra_op_num_threads = config.threads
        self.session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ValueError(f"{path}: expected one N×3×H×W input, got "
                             f"{[(i.name, i.shape) for i in inputs]}")
        self.input_name = inputs[0].name
        _, channels, height, width = inputs[0].shape
        if isinstance(channels, int) and channels != 3:
            raise ValueError(f"{path}: the model takes {channels} channels, not 3")
        static = isinstance(height, int) and isinstance(width, int)
        self.input_size = (height, width) if static else tuple(config.input_size)
        batch_dim = inputs[0].shape[0]
        self.fixed_batch = batch_dim if isinstance(batch_dim, int) else None
        out_shape = self.session.get_outputs()[0].shape
        self.embedding_size = out_shape[1] if len(out_shape) == 2 and isinstance(out_shape[1], int) else None

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if self.fixed_batch is None:
            return self.session.run(None, {self.input_name: batch})[0]
        parts = []  # a static-batch export: run in slices of that size, padding the last one
        for i in range(0, len(batch), self.fixed_batch):
            part = batch[i:i + self.fixed_batch]
            pad = self.fixed_batch - len(part)
            if pad:
                part = np.concatenate([part, np.zeros((pad, *part.shape[1:]), dtype=part.dtype)])
            parts.append(self.session.run(None, {self.input_name: part})[0][: self.fixed_batch - pad])
        return np.concatenate(parts)

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, self.embedding_size or 0), dtype=np.float32)
        out = []
        for start in range(0, len(crops), self.config.batch_size):
            batch = preprocess(crops[start:start + self.config.batch_size], self.input_size, self.config.crop_eye)
            if self.config.flip == "sum":
                both = self._run(np.concatenate([batch, np.ascontiguousarray(batch[..., ::-1])]))
                feats = both[: len(batch)].astype(np.float32) + both[len(batch):].astype(np.float32)
            else:
                feats = self._run(batch).astype(np.float32)
            out.append(feats.reshape(len(batch), -1))
        return l2_normalise(np.concatenate(out))
