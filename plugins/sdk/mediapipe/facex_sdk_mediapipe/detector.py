"""MediaPipe face detection (BlazeFace) as a FaceX :class:`facex_core.Detector`.

``mediapipe.solutions.face_detection.FaceDetection`` (static images) with ``model_selection`` 1
(full range, faces up to ~5 m) or 0 (short range, ~2 m). Its relative box and six relative keypoints
become pixels. The keypoints keep MediaPipe's ``FaceKeyPoint`` order (layout ``"mediapipe6"``):

0. ``RIGHT_EYE`` - the subject's right eye, i.e. the eye on the image's left for an upright face;
1. ``LEFT_EYE`` - the image-right eye;
2. ``NOSE_TIP``;
3. ``MOUTH_CENTER``;
4. ``RIGHT_EAR_TRAGION`` - the image-left ear tragion;
5. ``LEFT_EAR_TRAGION`` - the image-right one.

Additions (config options): ``max_side`` downsizes very large images first (BlazeFace sees 128 or
192 pixels anyway) and maps results back; ``tiles`` > 1 also runs the detector on an N×N grid of
overlapping tiles, because small faces in a wide photo shrink below what the 192-pixel input resolves,
and merges all detections (best score first; a box is dropped when its intersection with a kept one
exceeds ``overlap`` of the smaller box's area). Boxes are clipped to the image; keypoints are not.
"""
from __future__ import annotations

import math
from typing import Any, ClassVar, Sequence

import cv2
import numpy as np

from facex_core import Detector, Face

from ._graph import SolutionOwner, batch_rgb, check_batch
from ._import import import_mediapipe

LAYOUT = "mediapipe6"
MODEL_SELECTION = {"short_range": 0, "full_range": 1}
#: tiles narrower than this are not worth a detector run (BlazeFace's smallest input is 128 pixels).
MIN_TILE = 64
#: tile side = image side × TILE_SPAN / tiles, so neighbours overlap by about a third of a tile.
TILE_SPAN = 1.3


def tile_grid(width: int, height: int, tiles: int) -> list[tuple[int, int, int, int]]:
    """Overlapping (x, y, w, h) tiles covering the image, row-major; [] when tiling is off or pointless."""
    if tiles <= 1:
        return []
    tw = min(width, math.ceil(width * TILE_SPAN / tiles))
    th = min(height, math.ceil(height * TILE_SPAN / tiles))
    if min(tw, th) < MIN_TILE:
        return []
    xs = [round(j * (width - tw) / (tiles - 1)) for j in range(tiles)]
    ys = [round(i * (height - th) / (tiles - 1)) for i in range(tiles)]
    return [(x, y, tw, th) for y in ys for x in xs]


def merge(boxes: np.ndarray, scores: np.ndarray, overlap: float) -> list[int]:
    """Indices kept, best score first: a box goes when it covers more than ``overlap`` of the smaller
    area of a kept box (catches both duplicates and a tile's partial view of a face)."""
    order = np.argsort(-scores, kind="stable")
    area = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    keep: list[int] = []
    for i in order:
        if keep:
            k = np.asarray(keep)
            iw = np.clip(np.minimum(boxes[k, 2], boxes[i, 2]) - np.maximum(boxes[k, 0], boxes[i, 0]), 0, None)
            ih = np.clip(np.minimum(boxes[k, 3], boxes[i, 3]) - np.maximum(boxes[k, 1], boxes[i, 1]), 0, None)
            smaller = np.maximum(np.minimum(area[k], area[i]), 1e-9)
            if np.any(iw * ih / smaller > overlap):
                continue
        keep.append(int(i))
    return keep


class MediaPipeDetector(SolutionOwner, Detector):
    """Images (BGR uint8; grey and BGRA accepted) → per image a list of :class:`facex_core.Face`,
    best score first, with ``box`` (x1, y1, x2, y2) in pixels, ``score`` and 6 ``landmarks``
    (layout ``"mediapipe6"``, order in the module docstring)."""

    landmark_layouts: ClassVar[tuple[str, ...]] = ("mediapipe6",)  # checked by facex_sdk.fit

    def _create_solution(self) -> Any:
        mp = import_mediapipe()
        return mp.solutions.face_detection.FaceDetection(
            model_selection=MODEL_SELECTION[self.config.model],
            min_detection_confidence=self.config.min_score)

    def _run(self, rgb: np.ndarray, x0: int, y0: int) -> list[tuple[float, np.ndarray, np.ndarray]]:
        """(score, box, keypoints) in the pixels of the image that ``rgb`` was cut from at (x0, y0)."""
        height, width = rgb.shape[:2]
        result = self.process(np.ascontiguousarray(rgb))
        found = []
        for det in result.detections or []:
            if det.score[0] < self.config.min_score:  # the graph's threshold acts before its box blending
                continue
            data = det.location_data
            rel = data.relative_bounding_box
            box = np.array([rel.xmin * width + x0, rel.ymin * height + y0,
                            (rel.xmin + rel.width) * width + x0, (rel.ymin + rel.height) * height + y0])
            points = np.array([[p.x * width + x0, p.y * height + y0] for p in data.relative_keypoints])
            found.append((float(det.score[0]), box, points.reshape(-1, 2)))
        return found

    def _detect_one(self, image: Any, index: int) -> list[Face]:
        cfg = self.config
        rgb = batch_rgb(image, index)
        height, width = rgb.shape[:2]
        factor = (1.0, 1.0)
        if cfg.max_side and max(height, width) > cfg.max_side:
            scale = cfg.max_side / max(height, width)
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            factor = (width / size[0], height / size[1])
        small_h, small_w = rgb.shape[:2]
        found = self._run(rgb, 0, 0)
        for x, y, tw, th in tile_grid(small_w, small_h, cfg.tiles):
            found += self._run(rgb[y:y + th, x:x + tw], x, y)
        if not found:
            return []
        boxes = np.stack([f[1] for f in found])
        kept = merge(boxes, np.array([f[0] for f in found]), cfg.overlap)
        if cfg.max_faces:
            kept = kept[: cfg.max_faces]
        back = np.asarray(factor)
        limit = np.array([width, height, width, height], dtype=np.float64)
        faces = []
        for k in kept:
            score, box, points = found[k]
            box = np.clip(box * np.tile(back, 2), 0.0, limit)
            faces.append(Face(box=box, score=score, landmarks=points * back, layout=LAYOUT))
        return faces

    def detect(self, images: Sequence[Any]) -> list[list[Face]]:
        check_batch(images)
        return [self._detect_one(image, i) for i, image in enumerate(images)]
