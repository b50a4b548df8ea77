"""1:1 verification metrics (LFW-style k-fold accuracy, ROC, AUC, TAR@FAR, EER) on similarity scores, in
float64: "same" iff ``score > threshold``, except the ``insightface`` rule's ``2 - 2 * score < threshold``."""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import attrs
import numpy as np

from ..interfaces.configs import THRESHOLD_RULES
from ..interfaces.protocol import Curve, ProtocolResult

FACEXZOO_STEPS = 1000  #: FaceX-Zoo's number of evenly spaced candidate thresholds (``lfw_evaluator.py``).

#: InsightFace's candidate thresholds on the squared L2 distance (``eval/verification.py``:
#: ``np.arange(0, 4, 0.01)``, 400 values; built by the same call so they are the same floats).
INSIGHTFACE_THRESHOLDS = np.arange(0, 4, 0.01)
INSIGHTFACE_THRESHOLDS.setflags(write=False)


@attrs.frozen(kw_only=True)
class KFoldResult:
    """Per-fold and summary accuracies of a k-fold verification run."""

    accuracies: np.ndarray  #: Test accuracy of each fold, in fold-id order.
    thresholds: np.ndarray  #: Chosen on the other folds: a score, or a squared L2 distance for ``insightface``.
    mean: float
    std: float  #: Sample standard deviation (ddof=1).
    stderr: float  #: ``std / sqrt(k)``: what FaceX-Zoo reports as "standard error".


def _check_pairs(scores: Iterable[float], labels: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    if s.ndim != 1 or y.ndim != 1:
        raise ValueError(f"scores and labels must be 1-D, got shapes {s.shape} and {y.shape}")
    if s.shape != y.shape:
        raise ValueError(f"scores and labels differ in length: {s.size} scores, {y.size} labels")
    if s.size == 0:
        raise ValueError("no pairs to score: scores is empty")
    bad = ~np.isfinite(s)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} score(s) are NaN or infinite (first at pair {np.flatnonzero(bad)[0]}); "
                         "check the features for NaN/inf")
    if y.dtype != np.bool_:
        if not np.issubdtype(y.dtype, np.number) or not np.isin(y, (0, 1)).all():
            raise ValueError(f"labels must be 0/1 or bool (1 = same identity), got values {np.unique(y)[:5].tolist()}")
        y = y.astype(bool)
    return s, y


def _require_both_classes(y: np.ndarray, where: str) -> None:
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        missing = "positive (same)" if n_pos == 0 else "negative (different)"
        raise ValueError(f"{where} has no {missing} pairs; both classes are needed")


def _exact_threshold(s_sorted: np.ndarray, y_sorted: np.ndarray) -> float:
    """The accuracy-maximising cut on ascending scores (smallest on ties): a midpoint between distinct
    scores, or half the mean gap beyond an extreme."""
    # Group equal scores: a threshold can only fall between distinct values.
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    values = s_sorted[starts]
    pos_per_value = np.add.reduceat(y_sorted.astype(np.int64), starts)
    neg_per_value = np.diff(np.append(starts, s_sorted.size)) - pos_per_value

    # Cut c (0..m) puts the c smallest distinct values on the "different" side:
    # correct = negatives below the cut + positives above it.
    neg_below = np.r_[0, np.cumsum(neg_per_value)]
    pos_below = np.r_[0, np.cumsum(pos_per_value)]
    correct = neg_below + (pos_below[-1] - pos_below)
    best = int(np.argmax(correct))  # first maximum = smallest threshold

    m = values.size
    gap = (values[-1] - values[0]) / (m - 1) if m > 1 else 1.0
    if best == 0:
        return float(values[0] - gap / 2)
    if best == m:
        return float(values[-1] + gap / 2)
    lo, hi = values[best - 1], values[best]
    mid = lo + (hi - lo) / 2
    # Adjacent floats can round the midpoint up onto `hi`, which would flip `hi` to "different";
    # `lo` itself is then the exact equivalent cut.
    return float(mid if mid < hi else lo)


def _facexzoo_threshold(s_sorted: np.ndarray, y_sorted: np.ndarray) -> float:
    """FaceX-Zoo's rule on ascending scores: 1000 evenly spaced candidates above the minimum,
    argmax of TPR - FPR (first on ties); the binary search makes the same ``> t`` comparisons."""
    lo, hi = s_sorted[0], s_sorted[-1]
    step = (hi - lo) / FACEXZOO_STEPS
    candidates = lo + step * np.arange(1, FACEXZOO_STEPS + 1)
    pos, neg = s_sorted[y_sorted], s_sorted[~y_sorted]
    # searchsorted(side="right") counts elements <= t, so the remainder is the count of > t.
    tpr = (pos.size - np.searchsorted(pos, candidates, side="right")) / pos.size
    fpr = (neg.size - np.searchsorted(neg, candidates, side="right")) / neg.size
    return float(candidates[int(np.argmax(tpr - fpr))])


def _insightface_threshold(d_sorted: np.ndarray, y_sorted: np.ndarray) -> float:
    """InsightFace's rule on ascending squared L2 distances: the first of ``arange(0, 4, 0.01)`` with the
    highest training accuracy of ``distance < t`` (``calculate_roc``'s loop: same ``np.less``, same pick)."""
    t = INSIGHTFACE_THRESHOLDS
    pos, neg = d_sorted[y_sorted], d_sorted[~y_sorted]
    true_accepts = np.searchsorted(pos, t, side="left")
    true_rejects = neg.size - np.searchsorted(neg, t, side="left")
    return float(t[int(np.argmax(true_accepts + true_rejects))])


def _fold_accuracy(s: np.ndarray, y: np.ndarray, threshold: float, rule: str) -> float:
    if rule == "insightface":
        # `s` holds distances here: "same" iff strictly below the threshold.
        return float(np.mean((s < threshold) == y))
    if rule == "facexzoo":
        # FaceX-Zoo counts a negative as right only when strictly below the threshold, so a score
        # equal to the threshold is wrong for both classes.
        correct = np.count_nonzero(s[y] > threshold) + np.count_nonzero(s[~y] < threshold)
        return correct / s.size
    return float(np.mean((s > threshold) == y))


def kfold_verification(scores: Iterable[float], labels: Iterable[int], folds: Iterable[int],
                       rule: str = "exact") -> KFoldResult:
    """k-fold verification accuracy: per fold id in ``folds`` (LFW: ``pair_index // 600``), pick a
    threshold on the other folds, test on it. ``insightface`` derives distances from the scores, which must be cosines
    of unit vectors (a decision can change only for a distance within ~1e-15 of a grid value)."""
    if rule not in THRESHOLD_RULES:
        raise ValueError(f"unknown threshold rule {rule!r}; expected one of {', '.join(THRESHOLD_RULES)}")
    s, y = _check_pairs(scores, labels)
    f = np.asarray(folds)
    if f.shape != s.shape:
        raise ValueError(f"folds and scores differ in length: {f.size} fold ids, {s.size} scores")
    if not np.issubdtype(f.dtype, np.integer):
        raise ValueError(f"fold ids must be integers, got dtype {f.dtype}")
    fold_ids = np.unique(f)
    if fold_ids.size < 2:
        raise ValueError(f"k-fold verification needs at least 2 folds, got {fold_ids.size}")

    if rule == "insightface":
        # From here on `s` is the distance InsightFace thresholds (sorted ascending below).
        s = 2.0 - 2.0 * s
    choose = {"exact": _exact_threshold, "facexzoo": _facexzoo_threshold, "insightface": _insightface_threshold}[rule]
    # One global sort: every training split is then a masked, still sorted, subsequence.
    order = np.argsort(s, kind="stable")
    s, y, f = s[order], y[order], f[order]
    accuracies = np.empty(fold_ids.size)
    thresholds = np.empty(fold_ids.size)
    for i, k in enumerate(fold_ids):
        test, train = f == k, f != k
        _require_both_classes(y[train], f"the training split for test fold {int(k)}")
        thresholds[i] = choose(s[train], y[train])
        accuracies[i] = _fold_accuracy(s[test], y[test], thresholds[i], rule)

    std = float(np.std(accuracies, ddof=1))
    return KFoldResult(accuracies=accuracies, thresholds=thresholds, mean=float(accuracies.mean()),
                       std=std, stderr=float(std / np.sqrt(fold_ids.size)))


def roc_curve(scores: Iterable[float], labels: Iterable[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC over every distinct threshold: ``(fpr, tpr, thresholds)``, thresholds descending; point i is
    ``score > thresholds[i]``, from (0, 0) to (1, 1) (just below the lowest score)."""
    s, y = _check_pairs(scores, labels)
    _require_both_classes(y, "the scored pairs")
    order = np.argsort(-s, kind="stable")
    s_desc, y_desc = s[order], y[order]
    # Last index of each run of equal scores: accepting that value accepts the whole run.
    run_end = np.flatnonzero(np.append(s_desc[1:] != s_desc[:-1], True))
    tp = np.cumsum(y_desc)[run_end]
    fp = (run_end + 1) - tp
    values = s_desc[run_end]
    thresholds = np.append(values, np.nextafter(values[-1], -np.inf))
    return np.r_[0, fp] / fp[-1], np.r_[0, tp] / tp[-1], thresholds


def roc_auc(scores: Iterable[float], labels: Iterable[int]) -> float:
    """Area under the ROC curve: the normalised Mann-Whitney U statistic (ties count one half)."""
    fpr, tpr, _ = roc_curve(scores, labels)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2)


def tar_at_far(scores: Iterable[float], labels: Iterable[int], fars: Iterable[float]) -> dict[float, float]:
    """TAR at each target FAR: that of the lowest ROC threshold whose FAR is <= the target (the
    highest TAR reachable), without interpolation; a target below every non-zero FAR gives TAR at FAR 0."""
    fpr, tpr, _ = roc_curve(scores, labels)
    targets = np.asarray(list(fars), dtype=np.float64)
    if np.any(~np.isfinite(targets)) or np.any(targets < 0):
        raise ValueError(f"target FARs must be finite and >= 0, got {targets.tolist()}")
    # fpr is non-decreasing along the curve, so the last index with fpr <= target is the answer.
    idx = np.searchsorted(fpr, targets, side="right") - 1
    return {float(t): float(tpr[i]) for t, i in zip(targets, idx)}


def eer(scores: Iterable[float], labels: Iterable[int]) -> float:
    """Equal error rate: where FAR equals FRR on the ROC, linearly interpolated where FAR - FRR changes sign."""
    fpr, tpr, _ = roc_curve(scores, labels)
    diff = fpr - (1.0 - tpr)  # -1 at (0, 0), +1 at (1, 1), non-decreasing
    i = int(np.argmax(diff >= 0))
    if diff[i] == 0 or i == 0:
        return float(fpr[i])
    w = -diff[i - 1] / (diff[i] - diff[i - 1])
    return float(fpr[i - 1] + w * (fpr[i] - fpr[i - 1]))


SCORE_BLOCK = 512  #: Pairs per block when scoring: the float64 copies of one block stay a few MB.

#: Metric name -> target FAR reported by every pair-verification protocol.
TAR_TARGETS = {"tar@far=1e-3": 1e-3, "tar@far=1e-2": 1e-2, "tar@far=1e-1": 1e-1}


def pair_scores(features: Mapping[str, np.ndarray], first: Sequence[str], second: Sequence[str]) -> np.ndarray:
    """``features[first[i]] · features[second[i]]`` in float64, block by block (no full-size copy)."""
    out = np.empty(len(first))
    for s in range(0, len(first), SCORE_BLOCK):
        a = np.array([features[name] for name in first[s:s + SCORE_BLOCK]], dtype=np.float64)
        b = np.array([features[name] for name in second[s:s + SCORE_BLOCK]], dtype=np.float64)
        out[s:s + SCORE_BLOCK] = np.einsum("ij,ij->i", a.reshape(len(a), -1), b.reshape(len(b), -1))
    return out


def verification_result(scores: np.ndarray, labels: np.ndarray, folds: np.ndarray, rule: str = "exact",
                        details: dict | None = None) -> ProtocolResult:
    """The standard pair-verification result: k-fold accuracy, AUC, EER, TAR at FAR 1e-3/1e-2/1e-1, ROC."""
    labels = np.asarray(labels, dtype=bool)
    kfold = kfold_verification(scores, labels, folds, rule=rule)
    fpr, tpr, _ = roc_curve(scores, labels)
    tars = tar_at_far(scores, labels, TAR_TARGETS.values())
    metrics = {"accuracy": kfold.mean, "accuracy_std": kfold.std, "accuracy_stderr": kfold.stderr,
               "auc": roc_auc(scores, labels), "eer": eer(scores, labels),
               **{name: tars[far] for name, far in TAR_TARGETS.items()}}
    info = {"threshold_rule": rule, "threshold_unit": "squared_l2" if rule == "insightface" else "cosine",
            "fold_accuracies": kfold.accuracies.tolist(), "fold_thresholds": kfold.thresholds.tolist(),
            # InsightFace prints mean ± np.std(accuracies), the population std (ddof=0)
            "accuracy_std_ddof0": float(np.std(kfold.accuracies)),
            "n_pairs": int(labels.size), "n_positive": int(labels.sum()), "n_negative": int((~labels).sum()),
            **(details or {})}
    roc = Curve(name="roc", x=fpr, y=tpr, x_label="FAR", y_label="TAR", log_x=True)
    return ProtocolResult(metrics=metrics, primary="accuracy", curves=[roc], details=info)
