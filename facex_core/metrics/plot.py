"""Curve plots (ROC, CMC) drawn with OpenCV, so the core needs no plotting library."""
from __future__ import annotations

import math
import os
from typing import Sequence

import cv2
import numpy as np

from ..data.image import write_image
from ..interfaces.protocol import Curve

_COLOURS = [(180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148),
            (75, 86, 140), (194, 119, 227), (127, 127, 127)]  # BGR


def _positive_x(curve: Curve) -> Curve:
    x, y = np.asarray(curve.x, float), np.asarray(curve.y, float)
    keep = x > 0
    return Curve(curve.name, x[keep], y[keep], curve.x_label, curve.y_label, curve.log_x)


def plot_curves(series: Sequence[tuple[str, Curve]], path: str | os.PathLike, title: str = "") -> None:
    """Draw labelled curves sharing axes into a 720×560 PNG (log-scaled x when the first curve asks)."""
    w, h = 720, 560
    left, right, top, bottom = 80, 20, 40, 60
    img = np.full((h, w, 3), 255, np.uint8)
    pw, ph = w - left - right, h - top - bottom
    log_x = bool(series and series[0][1].log_x)
    if log_x:  # log axes cannot show x = 0 (e.g. FAR 0 on a ROC): start at the smallest positive x
        series = [(label, _positive_x(c)) for label, c in series]

    def xs(vals: np.ndarray) -> np.ndarray:
        return np.log10(np.clip(vals, 1e-6, None)) if log_x else vals

    all_x = np.concatenate([xs(np.asarray(c.x, float)) for _, c in series]) if series else np.array([0, 1.0])
    all_y = np.concatenate([np.asarray(c.y, float) for _, c in series]) if series else np.array([0, 1.0])
    if all_x.size == 0:
        all_x, all_y = np.array([0.0, 1.0]), np.array([0.0, 1.0])
    x0, x1 = (math.floor(all_x.min()), 0.0) if log_x else (float(all_x.min()), float(all_x.max()))
    y0, y1 = float(min(0.0, all_y.min())), float(max(1.0, all_y.max()))
    if x1 <= x0:
        x1 = x0 + 1

    def to_px(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        px = left + (x - x0) / (x1 - x0) * pw
        py = top + ph - (y - y0) / (y1 - y0) * ph
        return np.stack([px, py], 1).round().astype(np.int32)

    font = cv2.FONT_HERSHEY_SIMPLEX
    ticks = np.arange(x0, x1 + 1e-9, 1.0) if log_x else np.linspace(x0, x1, 6)
    for t in ticks:
        p = to_px(np.array([t]), np.array([y0]))[0]
        cv2.line(img, (p[0], top), (p[0], top + ph), (230, 230, 230), 1)
        label = f"1e{int(t)}" if log_x else f"{t:.2g}"
        cv2.putText(img, label, (p[0] - 18, top + ph + 20), font, 0.45, (60, 60, 60), 1, cv2.LINE_AA)
    for t in np.linspace(y0, y1, 6):
        p = to_px(np.array([x0]), np.array([t]))[0]
        cv2.line(img, (left, p[1]), (left + pw, p[1]), (230, 230, 230), 1)
        cv2.putText(img, f"{t:.2f}", (left - 48, p[1] + 5), font, 0.45, (60, 60, 60), 1, cv2.LINE_AA)
    cv2.rectangle(img, (left, top), (left + pw, top + ph), (0, 0, 0), 1)
    for i, (label, c) in enumerate(series):
        colour = _COLOURS[i % len(_COLOURS)]
        pts = to_px(xs(np.asarray(c.x, float)), np.asarray(c.y, float))
        cv2.polylines(img, [pts.reshape(-1, 1, 2)], False, colour, 2, cv2.LINE_AA)
        ly = top + ph - 12 - 20 * (len(series) - 1 - i)  # lower right: ROC and CMC curves rise to the upper left
        cv2.line(img, (left + pw - 200, ly - 5), (left + pw - 175, ly - 5), colour, 2)
        cv2.putText(img, label[:28], (left + pw - 170, ly), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    if series:
        cv2.putText(img, series[0][1].x_label + (" (log)" if log_x else ""), (left + pw // 2 - 40, h - 15),
                    font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, series[0][1].y_label, (8, top - 12), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    if title:
        cv2.putText(img, title, (left + 60, top - 12), font, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    write_image(path, img)
