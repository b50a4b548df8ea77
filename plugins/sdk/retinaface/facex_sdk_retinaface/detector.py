"""FaceX-Zoo's SDK face detector (RetinaFace, MobileNet-0.25) as a FaceX :class:`facex_core.Detector`.

Pre/post-processing follows FaceX-Zoo's ``FaceDetModelHandler``:

* input BGR uint8, as float32 minus the per-channel mean (104, 117, 123), HWC → CHW;
* priors for the actual input size: at stride s ∈ (8, 16, 32) a ceil(H/s) × ceil(W/s) grid, per cell
  (row-major) one square anchor per min size ((16, 32), (64, 128), (256, 512)) centred at
  ((j + 0.5)·s/W, (i + 0.5)·s/H), all normalised by the image size;
* decoding with variances (0.1, 0.2): centre = prior_c + d_xy·0.1·prior_wh, size = prior_wh·exp(d_wh·0.2),
  corners × (W, H); the 5 landmarks as prior_c + d_k·0.1·prior_wh (RetinaFace's landmark coding;
  FaceX-Zoo's handler computes but drops them);
* keep face probability > ``confidence_threshold``, sort descending, greedy NMS at IoU
  ``nms_threshold`` with the +1-pixel area convention.

Additions (each a config option, all off or inert for ordinary photos): ``top_k`` caps the candidates
before NMS (FaceX-Zoo has no cap), ``max_faces`` caps the result, ``max_side`` downsizes images whose
longer side exceeds it (FaceX-Zoo always runs at full resolution) and maps results back. Boxes are
not clipped to the image, as in FaceX-Zoo.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar, Sequence

import cv2
import numpy as np
import torch

from facex_core import Detector, Face, as_bgr, resolve_device

from .network import RetinaFaceMNet025
from .safe_torch_file import read_state_dict

MEAN_BGR = (104.0, 117.0, 123.0)
MIN_SIZES = ((16, 32), (64, 128), (256, 512))
STEPS = (8, 16, 32)
VARIANCE = (0.1, 0.2)

RELEASE_URL = ("https://github.com/JDAI-CV/FaceX-Zoo/blob/main/face_sdk/models/face_detection/"
               "face_detection_1.0/face_detection_retina.pkl")
MISSING_WEIGHTS = (
    "retinaface_mnet025: no weights given. Set `weights` to FaceX-Zoo's released detector "
    f"`face_detection_retina.pkl` (1.8 MB, Apache-2.0; download it from {RELEASE_URL} - the file is also in "
    "face_sdk/models/face_detection/face_detection_1.0/ of a FaceX-Zoo checkout), or to an .npz made "
    "from it with `python -m facex_sdk_retinaface.convert face_detection_retina.pkl retinaface.npz`. "
    "The .pkl is read without executing it.")


def load_weights(path: str | Path) -> dict[str, np.ndarray]:
    """Arrays keyed by module path from an ``.npz`` (no pickles allowed) or any PyTorch file
    (FaceX-Zoo's pickled whole model, a state dict; read by :mod:`.safe_torch_file`)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"retinaface_mnet025: weights file {path} does not exist. {MISSING_WEIGHTS}")
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    else:
        arrays = read_state_dict(path)
    if arrays and all(k.startswith("module.") for k in arrays):
        arrays = {k[len("module."):]: v for k, v in arrays.items()}
    return arrays


def build_network(weights: str | Path) -> RetinaFaceMNet025:
    """The detector network with FaceX-Zoo's weights loaded strictly (every key, every shape)."""
    arrays = load_weights(weights)
    net = RetinaFaceMNet025()
    expected = net.state_dict()
    missing = sorted(set(expected) - set(arrays))
    unexpected = sorted(set(arrays) - set(expected))
    wrong = sorted(k for k in set(expected) & set(arrays) if tuple(expected[k].shape) != tuple(arrays[k].shape))
    if missing or unexpected or wrong:
        raise ValueError(f"{weights}: not FaceX-Zoo's RetinaFace MobileNet-0.25 weights: "
                         f"{len(missing)} missing (e.g. {missing[:3]}), {len(unexpected)} unexpected "
                         f"(e.g. {unexpected[:3]}), {len(wrong)} with another shape (e.g. {wrong[:3]})")
    net.load_state_dict({k: torch.from_numpy(np.array(arrays[k])).to(expected[k].dtype) for k in expected},
                        strict=True)
    return net.eval()


def priors(height: int, width: int) -> np.ndarray:
    """P×4 anchors (cx, cy, w, h), normalised by the image size, in the network's output order."""
    out = []
    for sizes, step in zip(MIN_SIZES, STEPS):
        rows, cols = math.ceil(height / step), math.ceil(width / step)
        cy, cx = np.meshgrid((np.arange(rows) + 0.5) * step / height,
                             (np.arange(cols) + 0.5) * step / width, indexing="ij")
        level = np.empty((rows, cols, len(sizes), 4), dtype=np.float64)
        level[..., 0] = cx[..., None]
        level[..., 1] = cy[..., None]
        level[..., 2] = np.asarray(sizes, dtype=np.float64) / width
        level[..., 3] = np.asarray(sizes, dtype=np.float64) / height
        out.append(level.reshape(-1, 4))
    return np.concatenate(out).astype(np.float32)


def decode(loc: np.ndarray, landms: np.ndarray, anchors: np.ndarray, width: int,
           height: int) -> tuple[np.ndarray, np.ndarray]:
    """Offsets → boxes P×4 (x1, y1, x2, y2) and landmarks P×5×2, in pixels."""
    centre = anchors[:, :2] + loc[:, :2] * VARIANCE[0] * anchors[:, 2:]
    size = anchors[:, 2:] * np.exp(loc[:, 2:] * VARIANCE[1])
    scale = np.array([width, height], dtype=np.float32)
    boxes = np.concatenate([(centre - size / 2) * scale, (centre + size / 2) * scale], axis=1)
    points = anchors[:, None, :2] + landms.reshape(-1, 5, 2) * VARIANCE[0] * anchors[:, None, 2:]
    return boxes.astype(np.float32), (points * scale).astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy NMS in descending score order; IoU with FaceX-Zoo's +1-pixel widths. Returns kept indices."""
    x1, y1, x2, y2 = boxes.T.astype(np.float64)
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        order = rest[inter / (areas[i] + areas[rest] - inter) <= threshold]
    return np.asarray(keep, dtype=np.int64)


class RetinaFaceDetector(Detector):
    """Images (BGR uint8; grey and BGRA accepted) → per image a list of :class:`facex_core.Face`
    sorted by score, with ``box`` (x1, y1, x2, y2), ``score`` and 5 ``landmarks`` (left eye, right eye,
    nose tip, left and right mouth corner, as seen in the image)."""

    landmark_layouts: ClassVar[tuple[str, ...]] = ("arcface5",)  # checked by facex_sdk.fit

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        if not config.weights:
            raise ValueError(MISSING_WEIGHTS)
        self.device = resolve_device(config.device)
        self.net = build_network(config.weights).to(self.device)
        self._priors: dict[tuple[int, int], np.ndarray] = {}

    def _anchors(self, height: int, width: int) -> np.ndarray:
        key = (height, width)
        if key not in self._priors:
            if len(self._priors) > 32:
                self._priors.clear()
            self._priors[key] = priors(height, width)
        return self._priors[key]

    def _prepare(self, image: Any) -> tuple[np.ndarray, tuple[float, float]]:
        """BGR image to run on, and the (x, y) factors that map its pixels back to the input's."""
        img = as_bgr(image)
        height, width = img.shape[:2]
        if self.config.max_side and max(height, width) > self.config.max_side:
            factor = self.config.max_side / max(height, width)
            size = (max(1, round(width * factor)), max(1, round(height * factor)))
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            return img, (width / size[0], height / size[1])
        return img, (1.0, 1.0)

    @torch.inference_mode()
    def _forward(self, batch: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = np.stack(batch).astype(np.float32) - np.asarray(MEAN_BGR, dtype=np.float32)
        x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).to(self.device)
        loc, conf, landms = self.net(x)
        return loc.float().cpu().numpy(), conf.float().cpu().numpy(), landms.float().cpu().numpy()

    def _postprocess(self, loc: np.ndarray, conf: np.ndarray, landms: np.ndarray, height: int,
                     width: int, back: tuple[float, float]) -> list[Face]:
        cfg = self.config
        scores = conf[:, 1]
        idx = np.nonzero(scores > cfg.confidence_threshold)[0]
        if idx.size == 0:
            return []
        idx = idx[np.argsort(-scores[idx], kind="stable")]
        if cfg.top_k > 0:
            idx = idx[: cfg.top_k]
        boxes, points = decode(loc[idx], landms[idx], self._anchors(height, width)[idx], width, height)
        kept = nms(boxes, scores[idx], cfg.nms_threshold)
        if cfg.max_faces > 0:
            kept = kept[: cfg.max_faces]
        factor = np.asarray(back, dtype=np.float32)
        faces = []
        for k in kept:
            box = (boxes[k].reshape(2, 2) * factor).reshape(4)
            faces.append(Face(box=box, score=float(scores[idx[k]]), landmarks=points[k] * factor))
        return faces

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        if isinstance(images, np.ndarray) and images.ndim in (2, 3) and images.dtype == np.uint8:
            raise TypeError("detect() takes a list of images; wrap a single image as [image]")
        prepared = [self._prepare(img) for img in images]
        results: list[list[Face]] = [[] for _ in prepared]
        groups: dict[tuple[int, int], list[int]] = {}
        for i, (img, _) in enumerate(prepared):
            groups.setdefault(img.shape[:2], []).append(i)
        for (height, width), members in groups.items():
            for start in range(0, len(members), max(1, self.config.batch_size)):
                chunk = members[start:start + max(1, self.config.batch_size)]
                loc, conf, landms = self._forward([prepared[i][0] for i in chunk])
                for row, i in enumerate(chunk):
                    results[i] = self._postprocess(loc[row], conf[row], landms[row], height, width,
                                                   prepared[i][1])
        return results
