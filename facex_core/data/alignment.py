"""Face alignment geometry shared by SDK stages: the ArcFace template and the similarity fit."""
from __future__ import annotations

from typing import Any

import numpy as np

#: ArcFace 5-point template of a 112×112 crop, (x, y): image-left eye, image-right eye, nose tip,
#: image-left and image-right mouth corner (InsightFace / FaceX-Zoo values).
ARCFACE_TEMPLATE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                                 [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)
ARCFACE_TEMPLATE_112.setflags(write=False)


def arcface_template(size: int = 112) -> np.ndarray:
    """The ArcFace template for a ``size``×``size`` crop (the 112 template scaled by size/112)."""
    return ARCFACE_TEMPLATE_112 * (size / 112.0)


def umeyama(src: Any, dst: Any, with_scale: bool = True) -> np.ndarray:
    """Least-squares similarity (or rigid, ``with_scale=False``) transform mapping ``src`` onto ``dst``.

    Umeyama, "Least-squares estimation of transformation parameters between two point patterns",
    TPAMI 1991: with centred point sets and Σ = dstᵀ·src / n = U·D·Vᵀ, the rotation is U·S·Vᵀ where S
    flips the last axis when needed to exclude reflections, the scale is tr(D·S) / var(src) and the
    translation maps the src mean onto the dst mean. Returns the (d+1)×(d+1) homogeneous matrix.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[0] < 2:
        raise ValueError(f"need two N×d point sets of the same shape, got {src.shape} and {dst.shape}")
    n, d = src.shape
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = (src_c ** 2).sum() / n
    if src_var <= 1e-12 * max(1.0, float(np.abs(src).max()) ** 2):
        raise ValueError("source points coincide: no similarity transform is defined")
    cov = dst_c.T @ src_c / n
    u, sing, vt = np.linalg.svd(cov)
    signs = np.ones(d)
    rank = int(np.sum(sing > sing.max() * 1e-12)) if sing.max() > 0 else 0
    if rank == 0:
        raise ValueError("destination points coincide: no similarity transform is defined")
    if rank == d:
        if np.linalg.det(cov) < 0:
            signs[-1] = -1
    elif np.linalg.det(u) * np.linalg.det(vt) < 0:  # rank d-1: the paper's rule for the degenerate case
        signs[-1] = -1
    rotation = u @ np.diag(signs) @ vt
    scale = float((sing * signs).sum() / src_var) if with_scale else 1.0
    out = np.eye(d + 1)
    out[:d, :d] = scale * rotation
    out[:d, d] = dst_mean - scale * rotation @ src_mean
    return out
