"""1:1 verification metrics: k-fold threshold accuracy (LFW-style), ROC, AUC, TAR@FAR and EER.

All functions take similarity scores (higher = more likely the same identity) and binary labels
(1/True = same identity) and are pure, vectorised numpy. The decision everywhere in this module is
"same" iff ``score > threshold``, so a threshold equal to a score classifies that pair as "different".
The one exception is the ``insightface`` k-fold rule, which works where InsightFace does: on the
squared L2 distance ``2 - 2 * score`` of unit features, "same" iff ``distance < threshold``.
Scores are computed on in float64 whatever dtype they arrive in, so results do not depend on it.
"""
from __future__ import annotations

from typing import Iterable

import attrs
import numpy as np

RULES = ("exact", "facexzoo", "insightface")

#: FaceX-Zoo's number of evenly spaced candidate thresholds (``lfw_evaluator.py``).
FACEXZOO_STEPS = 1000

#: InsightFace's candidate thresholds on the squared L2 distance (``eval/verification.py``:
#: ``np.arange(0, 4, 0.01)``, 400 values; built by the same call so they are the same floats).
INSIGHTFACE_THRESHOLDS = np.arange(0, 4, 0.01)
INSIGHTFACE_THRESHOLDS.setflags(write=False)


@attrs.frozen(kw_only=True)
class KFoldResult:
    """Per-fold and summary accuracies of a k-fold verification run."""

    accuracies: np.ndarray
    """Test accuracy of each fold, in fold-id order."""
    thresholds: np.ndarray
    """Threshold chosen on the training folds of each fold: a score for the ``exact`` and
    ``facexzoo`` rules, a squared L2 distance (``2 - 2 * score``) for ``insightface``."""
    mean: float
    """Mean of :attr:`accuracies`."""
    std: float
    """Sample standard deviation (ddof=1) of :attr:`accuracies`."""
    stderr: float
    """``std / sqrt(k)``: what FaceX-Zoo reports as "standard error"."""


# -- input checking ------------------------------------------------------------------------------

def _check_pairs(scores: Iterable[float], labels: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
    """Return (float64 scores, bool labels) after rejecting shapes and values that make no sense."""
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
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{int(bad.sum())} score(s) are NaN or infinite (first at pair {first}); "
                         "check the features for NaN/inf")
    if y.dtype != np.bool_:
        if not np.issubdtype(y.dtype, np.number) or not np.isin(y, (0, 1)).all():
            raise ValueError("labels must be 0/1 or bool (1 = same identity), got values "
                             f"{np.unique(y)[:5].tolist()}")
        y = y.astype(bool)
    return s, y


def _require_both_classes(y: np.ndarray, where: str) -> None:
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        missing = "positive (same)" if n_pos == 0 else "negative (different)"
        raise ValueError(f"{where} has no {missing} pairs; both classes are needed")


# -- threshold rules -----------------------------------------------------------------------------

def _exact_threshold(s_sorted: np.ndarray, y_sorted: np.ndarray) -> float:
    """The cut point that maximises accuracy on scores sorted ascending (with their labels);
    ties go to the smallest threshold.

    Candidates are one threshold below all scores, the midpoints between consecutive distinct
    scores, and one above all scores. The outer two sit half the mean gap between distinct scores
    beyond the extremes (half of 1.0 when all scores are equal), which keeps them scale-aware.
    """
    # Group equal scores: a threshold can only fall between distinct values.
    is_new = np.empty(s_sorted.size, dtype=bool)
    is_new[0] = True
    np.not_equal(s_sorted[1:], s_sorted[:-1], out=is_new[1:])
    starts = np.flatnonzero(is_new)
    values = s_sorted[starts]
    pos_per_value = np.add.reduceat(y_sorted.astype(np.int64), starts)
    count_per_value = np.diff(np.append(starts, s_sorted.size))
    neg_per_value = count_per_value - pos_per_value

    # Cut c (0..m) puts the c smallest distinct values on the "different" side:
    # correct = negatives below the cut + positives above it.
    zero = np.zeros(1, dtype=np.int64)
    neg_below = np.concatenate([zero, np.cumsum(neg_per_value)])
    pos_below = np.concatenate([zero, np.cumsum(pos_per_value)])
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
    """FaceX-Zoo's rule on scores sorted ascending: 1000 evenly spaced candidates above the
    minimum, argmax of TPR - FPR (first on ties).

    Identical to looping over the candidates and counting ``pos > t`` / ``neg > t``: the counts
    come from a binary search over the sorted scores, which performs the same comparisons.
    """
    lo, hi = s_sorted[0], s_sorted[-1]
    step = (hi - lo) / FACEXZOO_STEPS
    candidates = lo + step * np.arange(1, FACEXZOO_STEPS + 1)
    pos, neg = s_sorted[y_sorted], s_sorted[~y_sorted]
    # searchsorted(side="right") counts elements <= t, so the remainder is the count of > t.
    tpr = (pos.size - np.searchsorted(pos, candidates, side="right")) / pos.size
    fpr = (neg.size - np.searchsorted(neg, candidates, side="right")) / neg.size
    return float(candidates[int(np.argmax(tpr - fpr))])


def _insightface_threshold(d_sorted: np.ndarray, y_sorted: np.ndarray) -> float:
    """InsightFace's rule on squared L2 distances sorted ascending: of the 400 thresholds
    ``arange(0, 4, 0.01)``, the first with the highest training accuracy of ``distance < t``.

    Identical to ``calculate_roc``'s loop over thresholds: ``searchsorted(side="left")`` counts the
    distances strictly below each threshold, the same comparison as ``np.less(dist, threshold)``.
    The integer count of right answers ranks thresholds exactly as InsightFace's float accuracy
    ``(tp + tn) / n`` does (one common divisor), so ``argmax`` picks the same first maximum.
    """
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
    """k-fold verification accuracy: per fold, pick a threshold on the other folds, test on it.

    ``folds`` gives the fold id of each pair (LFW: ``pair_index // 600``); fold ids may be any
    integers and are processed in sorted order. ``rule`` is ``"exact"`` (the accuracy-maximising
    cut over all candidate cut points, smallest threshold on ties), ``"facexzoo"`` (FaceX-Zoo's
    1000-step grid and argmax of TPR - FPR, reproducing its published numbers) or
    ``"insightface"`` (InsightFace's ``calculate_roc``: the grid ``arange(0, 4, 0.01)`` on the
    squared L2 distance ``2 - 2 * score`` of unit features, "same" iff ``distance < threshold``,
    first best training accuracy; its thresholds are reported as distances).

    For ``insightface`` the scores must be cosines of unit vectors, as the protocols produce. The
    distance is derived from the cosine, not recomputed from the features as InsightFace does; the
    two differ by float rounding only, so a decision can differ only for a pair whose distance
    lies within ~1e-15 of one of the 400 grid values.
    """
    if rule not in RULES:
        raise ValueError(f"unknown threshold rule {rule!r}; expected one of {', '.join(RULES)}")
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
    choose = {"exact": _exact_threshold, "facexzoo": _facexzoo_threshold,
              "insightface": _insightface_threshold}[rule]
    # One global sort: every training split is then a masked, still sorted, subsequence.
    order = np.argsort(s, kind="stable")
    s, y, f = s[order], y[order], f[order]
    accuracies = np.empty(fold_ids.size)
    thresholds = np.empty(fold_ids.size)
    for i, k in enumerate(fold_ids):
        test = f == k
        train = ~test
        _require_both_classes(y[train], f"the training split for test fold {int(k)}")
        thresholds[i] = choose(s[train], y[train])
        accuracies[i] = _fold_accuracy(s[test], y[test], thresholds[i], rule)

    std = float(np.std(accuracies, ddof=1))
    return KFoldResult(accuracies=accuracies, thresholds=thresholds, mean=float(accuracies.mean()),
                       std=std, stderr=float(std / np.sqrt(fold_ids.size)))


# -- threshold-free metrics ------------------------------------------------------------------------

def roc_curve(scores: Iterable[float], labels: Iterable[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC over every distinct threshold: ``(fpr, tpr, thresholds)``, thresholds descending.

    Point i is the operating point of ``score > thresholds[i]``. The first threshold is the highest
    score (nothing accepted: the point (0, 0)); the thresholds then run through the distinct scores
    downwards and end just below the lowest score (everything accepted: the point (1, 1)).
    """
    s, y = _check_pairs(scores, labels)
    _require_both_classes(y, "the scored pairs")
    order = np.argsort(-s, kind="stable")
    s_desc, y_desc = s[order], y[order]
    # Last index of each run of equal scores: accepting that value accepts the whole run.
    run_end = np.flatnonzero(np.append(s_desc[1:] != s_desc[:-1], True))
    tp = np.cumsum(y_desc)[run_end]
    fp = (run_end + 1) - tp
    zero = np.zeros(1, dtype=np.int64)
    tpr = np.concatenate([zero, tp]) / tp[-1]
    fpr = np.concatenate([zero, fp]) / fp[-1]
    values = s_desc[run_end]
    thresholds = np.append(values, np.nextafter(values[-1], -np.inf))
    return fpr, tpr, thresholds


def roc_auc(scores: Iterable[float], labels: Iterable[int]) -> float:
    """Area under the ROC curve: the probability that a random positive outscores a random
    negative, ties counting one half (the Mann-Whitney U statistic, normalised)."""
    fpr, tpr, _ = roc_curve(scores, labels)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2)


def tar_at_far(scores: Iterable[float], labels: Iterable[int],
               fars: Iterable[float]) -> dict[float, float]:
    """TAR at each target FAR, at the most permissive operating point that respects the target.

    For each target, this is the TAR of the lowest ROC threshold whose FAR is <= the target
    (equivalently the highest TAR reachable with FAR <= target); no interpolation between points.
    A target below the smallest non-zero FAR gives the TAR at FAR 0.
    """
    fpr, tpr, _ = roc_curve(scores, labels)
    targets = np.asarray(list(fars), dtype=np.float64)
    if np.any(~np.isfinite(targets)) or np.any(targets < 0):
        raise ValueError(f"target FARs must be finite and >= 0, got {targets.tolist()}")
    # fpr is non-decreasing along the curve, so the last index with fpr <= target is the answer.
    idx = np.searchsorted(fpr, targets, side="right") - 1
    return {float(t): float(tpr[i]) for t, i in zip(targets, idx)}


def eer(scores: Iterable[float], labels: Iterable[int]) -> float:
    """Equal error rate: where FAR equals FRR (1 - TAR) on the ROC, linearly interpolated between
    the two operating points at which FAR - FRR changes sign."""
    fpr, tpr, _ = roc_curve(scores, labels)
    diff = fpr - (1.0 - tpr)  # -1 at (0, 0), +1 at (1, 1), non-decreasing
    i = int(np.argmax(diff >= 0))
    if diff[i] == 0 or i == 0:
        return float(fpr[i])
    w = -diff[i - 1] / (diff[i] - diff[i - 1])
    return float(fpr[i - 1] + w * (fpr[i] - fpr[i - 1]))


#: Pairs per block when scoring: the float64 copies of one block stay a few MB.
SCORE_BLOCK = 512

#: Metric name -> target FAR reported by every pair-verification protocol.
TAR_TARGETS = {"tar@far=1e-3": 1e-3, "tar@far=1e-2": 1e-2, "tar@far=1e-1": 1e-1}


def pair_scores(features: "Mapping[str, np.ndarray]", first: "Sequence[str]", second: "Sequence[str]") -> np.ndarray:
    """``features[first[i]] · features[second[i]]`` in float64, block by block (no full-size copy of
    the features, one C-level conversion per block rather than one numpy call per image)."""
    out = np.empty(len(first))
    for s in range(0, len(first), SCORE_BLOCK):
        a = np.array([features[name] for name in first[s:s + SCORE_BLOCK]], dtype=np.float64)
        b = np.array([features[name] for name in second[s:s + SCORE_BLOCK]], dtype=np.float64)
        out[s:s + SCORE_BLOCK] = np.einsum("ij,ij->i", a.reshape(len(a), -1), b.reshape(len(b), -1))
    return out


def verification_result(scores: np.ndarray, labels: np.ndarray, folds: np.ndarray, rule: str = "exact",
                        details: "dict | None" = None) -> "ProtocolResult":
    """The standard pair-verification result: k-fold accuracy (mean, std, standard error) with the
    given threshold rule, AUC, EER, TAR at FAR 1e-3/1e-2/1e-1, and the ROC curve."""
    from ..interfaces.protocol import Curve, ProtocolResult

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
