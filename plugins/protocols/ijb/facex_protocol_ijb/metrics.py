"""IJB metrics: TAR@FAR under two reading rules, a thinned ROC, and 1:N open-set search metrics."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

TAR_RULES = ("exact", "insightface")


def _operating_counts(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative (false, true) accept counts when accepting each distinct score and all above it,
    highest score first (the points of sklearn's ``roc_curve`` before it drops any)."""
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    run_end = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    tps = np.cumsum(y)[run_end]
    fps = run_end + 1 - tps
    return fps, tps


def insightface_tar_at_far(scores: np.ndarray, labels: np.ndarray, fars: dict[str, float]) -> dict[str, float]:
    """TAR at the ROC point nearest each target FAR, as insightface's and FaceX-Zoo's IJB scripts
    read it off ``sklearn.metrics.roc_curve`` (reproduces their published numbers).

    The ROC is sklearn's: one point per distinct score, then collinear middle points dropped
    (``drop_intermediate``: a point is kept when the second difference of its false or true
    accept count is non-zero, and the first and last are kept), then (0, 0) prepended. The point
    whose FAR is nearest the target wins; among equally near points, the one with the highest TAR.
    The nearest point may lie above the target FAR.
    """
    y = np.asarray(labels, dtype=bool)
    fps, tps = _operating_counts(np.asarray(scores, dtype=np.float64), y)
    if fps.size > 2:
        keep = np.flatnonzero(np.r_[True, (np.diff(fps, 2) != 0) | (np.diff(tps, 2) != 0), True])
        fps, tps = fps[keep], tps[keep]
    fpr = np.r_[0, fps] / fps[-1]
    tpr = np.r_[0, tps] / tps[-1]
    # Reversed, the first of equally near points is the one with the highest TAR.
    fpr, tpr = fpr[::-1], tpr[::-1]
    return {name: float(tpr[int(np.argmin(np.abs(fpr - far)))]) for name, far in fars.items()}


def thin_roc(fpr: np.ndarray, tpr: np.ndarray, points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``points`` ROC points for plotting: for each FAR of a log grid, the most
    permissive point at or below it, plus both ends (IJB-C has 15.6M distinct scores)."""
    if fpr.size <= points:
        return fpr, tpr
    positive = fpr[fpr > 0]
    lowest = positive[0] if positive.size else 1.0
    grid = np.geomspace(lowest, 1.0, points)
    idx = np.unique(np.r_[0, np.searchsorted(fpr, grid, side="right") - 1, fpr.size - 1])
    return fpr[idx], tpr[idx]


def allowed_false_alarms(rate: float, n: int) -> int:
    """The largest count c with ``c / n <= rate`` (as floats, like the core's ROC)."""
    c = int(np.floor(rate * n))
    while c + 1 <= n and (c + 1) / n <= rate:
        c += 1
    while c > 0 and c / n > rate:
        c -= 1
    return c


class SearchResult(NamedTuple):
    """One gallery's 1:N search outcome."""

    outranked: np.ndarray
    """Per mated search: non-mate gallery templates scoring strictly above the mate (0 = rank 1)."""
    mate_scores: np.ndarray
    """Per mated search: the mate's score."""
    nonmated_top: np.ndarray
    """Per non-mated search: its best gallery score."""


def search_gallery(probes: np.ndarray, probe_subjects: np.ndarray, gallery: np.ndarray,
                   gallery_subjects: np.ndarray, block: int = 4096) -> SearchResult:
    """Score every probe template against one gallery (one template per subject).

    A search is mated when its subject has a gallery template. A non-mate that ties the mate's
    score does not outrank it (the MegaFace convention, kept for every FaceX identification metric).
    """
    column = {int(s): i for i, s in enumerate(gallery_subjects)}
    mate = np.array([column.get(int(s), -1) for s in probe_subjects], dtype=np.int64)
    outranked, mate_scores, nonmated = [], [], []
    for s in range(0, probes.shape[0], block):
        scores = probes[s:s + block] @ gallery.T
        m = mate[s:s + block]
        mated = m >= 0
        ms = scores[np.flatnonzero(mated), m[mated]]
        mate_scores.append(ms)
        outranked.append(np.count_nonzero(scores[mated] > ms[:, None], axis=1))
        nonmated.append(scores[~mated].max(axis=1) if (~mated).any() else np.empty(0, np.float32))
    return SearchResult(np.concatenate(outranked), np.concatenate(mate_scores), np.concatenate(nonmated))


def tpir_at_fpir(result: SearchResult, fpirs: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """Rank-1 TPIR at each target FPIR, and the thresholds.

    FPIR(t) is the fraction of non-mated searches whose best score is above t; TPIR(t) the fraction
    of mated searches whose mate is at rank 1 with a score above t. The threshold is the lowest t
    with FPIR <= target (the core's TAR@FAR rule): with c allowed false alarms, the (c+1)-th best
    non-mated score. A target below 1 / n_nonmated allows none (t = the best non-mated score).
    """
    top = -np.sort(-result.nonmated_top)
    hit = result.outranked == 0
    tpirs, thresholds = {}, {}
    for name, rate in fpirs.items():
        c = allowed_false_alarms(rate, top.size)
        t = top[c] if c < top.size else -np.inf
        tpirs[name] = float(np.count_nonzero(hit & (result.mate_scores > t)) / max(hit.size, 1))
        thresholds[name] = float(t)
    return tpirs, thresholds


def tpir_fpir_curve(result: SearchResult) -> tuple[np.ndarray, np.ndarray]:
    """(FPIR, TPIR) at every distinct non-mated best score, most strict first."""
    top = np.unique(result.nonmated_top)[::-1]
    hit_scores = np.sort(result.mate_scores[result.outranked == 0])
    n_nm = result.nonmated_top.size
    fpir = (n_nm - np.searchsorted(np.sort(result.nonmated_top), top, side="right")) / n_nm
    tpir = (hit_scores.size - np.searchsorted(hit_scores, top, side="right")) / max(result.mate_scores.size, 1)
    return fpir, tpir
