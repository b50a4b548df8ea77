"""Verification metrics checked against independent, deliberately naive computations."""
from __future__ import annotations

import time

import numpy as np
import pytest

from facex_core import KFoldResult, eer, kfold_verification, roc_auc, roc_curve, tar_at_far


# -- naive reference implementations (a loop over thresholds, nothing shared with the library) ----

def naive_exact(scores, labels, folds):
    """Per test fold: try every cut point of the training scores, keep the first best one."""
    accs, thrs = [], []
    for k in sorted(set(folds.tolist())):
        train = folds != k
        s, y = scores[train], labels[train]
        u = sorted(set(s.tolist()))
        gap = (u[-1] - u[0]) / (len(u) - 1) if len(u) > 1 else 1.0
        candidates = [u[0] - gap / 2] + [(a + b) / 2 for a, b in zip(u[:-1], u[1:])] + [u[-1] + gap / 2]
        best_t, best_acc = None, -1.0
        for t in candidates:
            acc = sum(1 for si, yi in zip(s, y) if (si > t) == bool(yi)) / len(s)
            if acc > best_acc:
                best_t, best_acc = t, acc
        test = folds == k
        correct = sum(1 for si, yi in zip(scores[test], labels[test]) if (si > best_t) == bool(yi))
        accs.append(correct / int(test.sum()))
        thrs.append(best_t)
    return np.array(accs), np.array(thrs)


def facexzoo_literal(scores, labels, folds, num_thresholds=1000):
    """A line-by-line transcription of FaceX-Zoo's per-fold loop (reference §5.2)."""
    accs, thrs = [], []
    for k in sorted(set(folds.tolist())):
        train_scores = scores[folds != k]
        train_labels = labels[folds != k]
        pos = train_scores[train_labels == 1]
        neg = train_scores[train_labels == 0]
        score_min, score_max = np.min(train_scores), np.max(train_scores)
        step = (score_max - score_min) / num_thresholds
        tpr_list, fpr_list, threshold_list = [], [], []
        for i in range(1, num_thresholds + 1):
            threshold = score_min + step * i
            threshold_list.append(threshold)
            tpr_list.append(np.sum(pos > threshold) / pos.size)
            fpr_list.append(np.sum(neg > threshold) / neg.size)
        best = int(np.argmax(np.array(tpr_list) - np.array(fpr_list)))
        thr = threshold_list[best]
        test_scores = scores[folds == k]
        test_labels = labels[folds == k]
        test_pos = test_scores[test_labels == 1]
        test_neg = test_scores[test_labels == 0]
        accs.append((np.sum(test_pos > thr) + np.sum(test_neg < thr)) / test_scores.size)
        thrs.append(thr)
    return np.array(accs), np.array(thrs)


def insightface_literal(scores, labels, folds):
    """A line-by-line transcription of InsightFace's ``calculate_roc`` / ``calculate_accuracy``
    (``recognition/arcface_torch/eval/verification.py``), with ``dist`` given as the squared L2
    distance of unit vectors, ``2 - 2 * cos``, and the folds given by id instead of ``KFold``."""
    def calculate_accuracy(threshold, dist, actual_issame):
        predict_issame = np.less(dist, threshold)
        tp = np.sum(np.logical_and(predict_issame, actual_issame))
        fp = np.sum(np.logical_and(predict_issame, np.logical_not(actual_issame)))
        tn = np.sum(np.logical_and(np.logical_not(predict_issame), np.logical_not(actual_issame)))
        fn = np.sum(np.logical_and(np.logical_not(predict_issame), actual_issame))
        tpr = 0 if (tp + fn == 0) else float(tp) / float(tp + fn)
        fpr = 0 if (fp + tn == 0) else float(fp) / float(fp + tn)
        acc = float(tp + tn) / dist.size
        return tpr, fpr, acc

    thresholds = np.arange(0, 4, 0.01)
    actual_issame = labels.astype(bool)
    dist = 2 - 2 * scores
    accuracy, best = [], []
    for k in sorted(set(folds.tolist())):
        train_set = np.flatnonzero(folds != k)
        test_set = np.flatnonzero(folds == k)
        acc_train = np.zeros((len(thresholds)))
        for threshold_idx, threshold in enumerate(thresholds):
            _, _, acc_train[threshold_idx] = calculate_accuracy(threshold, dist[train_set],
                                                                actual_issame[train_set])
        best_threshold_index = np.argmax(acc_train)
        _, _, acc = calculate_accuracy(thresholds[best_threshold_index], dist[test_set],
                                       actual_issame[test_set])
        accuracy.append(acc)
        best.append(thresholds[best_threshold_index])
    return np.array(accuracy), np.array(best)


def random_pairs(seed, n_folds=5, per_fold=24):
    """Scores on a coarse grid (so there are many ties) with a mild class separation."""
    rng = np.random.default_rng(seed)
    n = n_folds * per_fold
    labels = (np.arange(n) % 2).astype(np.int64)
    rng.shuffle(labels)
    scores = np.round(rng.normal(0.3 * labels, 0.4), 1)
    folds = np.arange(n) // per_fold
    return scores, labels, folds


# -- k-fold accuracy -------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_exact_rule_matches_naive_loop(seed):
    scores, labels, folds = random_pairs(seed)
    res = kfold_verification(scores, labels, folds)
    accs, thrs = naive_exact(scores, labels, folds)
    np.testing.assert_array_equal(res.accuracies, accs)
    np.testing.assert_allclose(res.thresholds, thrs, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_facexzoo_rule_is_identical_to_literal_loop(seed):
    scores, labels, folds = random_pairs(seed)
    res = kfold_verification(scores, labels, folds, rule="facexzoo")
    accs, thrs = facexzoo_literal(scores, labels, folds)
    np.testing.assert_array_equal(res.accuracies, accs)
    np.testing.assert_array_equal(res.thresholds, thrs)


@pytest.mark.parametrize("seed", range(4))
def test_insightface_rule_is_identical_to_literal_loop(seed):
    scores, labels, folds = random_pairs(seed)
    res = kfold_verification(scores, labels, folds, rule="insightface")
    accs, thrs = insightface_literal(scores, labels, folds)
    np.testing.assert_array_equal(res.accuracies, accs)
    np.testing.assert_array_equal(res.thresholds, thrs)


@pytest.mark.parametrize("seed", range(3))
def test_insightface_rule_on_distances_that_sit_on_the_grid(seed):
    # Cosines on a 0.005 grid put 2 - 2cos on (or a rounding away from) the 0.01 threshold grid,
    # so the strict "<" and the first-maximum tie rule decide many pairs.
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 200)
    scores = np.clip(np.round(rng.normal(0.2 + 0.4 * labels, 0.25) / 0.005) * 0.005, -1, 1)
    folds = np.arange(200) // 20
    res = kfold_verification(scores, labels, folds, rule="insightface")
    accs, thrs = insightface_literal(scores, labels, folds)
    np.testing.assert_array_equal(res.accuracies, accs)
    np.testing.assert_array_equal(res.thresholds, thrs)


def test_insightface_rule_matches_distances_computed_from_features():
    # InsightFace computes sum((e1 - e2)**2) from the features; for unit vectors that is 2 - 2cos
    # up to rounding, which does not move any of these pairs across a grid value.
    rng = np.random.default_rng(5)
    n = 300
    labels = np.arange(n) % 2
    e1 = rng.normal(size=(n, 16))
    e2 = e1 * labels[:, None] * 1.5 + rng.normal(size=(n, 16))
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 /= np.linalg.norm(e2, axis=1, keepdims=True)
    folds = np.arange(n) // 30
    dist = np.sum(np.square(e1 - e2), 1)
    thresholds = np.arange(0, 4, 0.01)
    expected = []
    for k in range(10):
        tr, te = folds != k, folds == k
        acc = [np.mean((dist[tr] < t) == labels[tr].astype(bool)) for t in thresholds]
        t = thresholds[int(np.argmax(acc))]
        expected.append(np.mean((dist[te] < t) == labels[te].astype(bool)))
    res = kfold_verification(np.einsum("ij,ij->i", e1, e2), labels, folds, rule="insightface")
    np.testing.assert_array_equal(res.accuracies, expected)


def test_insightface_hand_example_distance_equal_to_threshold():
    # Grid g = arange(0, 4, 0.01); g[50] == 0.5 exactly, and cos 0.75 gives distance 2 - 1.5 = 0.5.
    # Fold 0: pos at d=0.5 (cos 0.75), neg at d=1.0 (cos 0.5).
    # Fold 1: pos at d=g[51] (cos 1 - g[51]/2, exact), neg at d=0.5.
    # Test fold 1, trained on fold 0: "same" iff d < t is perfect for 0.5 < t <= 1.0; the first such
    #   grid value is g[51]. Fold 1's positive sits exactly on it (not below -> wrong), its
    #   negative at 0.5 is below (accepted -> wrong): accuracy 0.
    # Test fold 0, trained on fold 1: t <= 0.5 gets 1/2, 0.5 < t <= g[51] gets 0, t > g[51] gets
    #   1/2; the first maximum is t = 0. Fold 0 at t=0: pos rejected (wrong), neg right: 1/2.
    assert np.arange(0, 4, 0.01)[50] == 0.5
    d_test = np.arange(0, 4, 0.01)[51]
    scores = np.array([0.75, 0.5, 1 - d_test / 2, 0.75])
    assert 2 - 2 * scores[2] == d_test
    labels = np.array([1, 0, 1, 0])
    folds = np.array([0, 0, 1, 1])
    res = kfold_verification(scores, labels, folds, rule="insightface")
    np.testing.assert_array_equal(res.thresholds, [0.0, d_test])
    np.testing.assert_array_equal(res.accuracies, [0.5, 0.0])


def test_exact_rule_is_optimal_on_training_folds():
    # Whatever the threshold, no other cut may do better on the training folds.
    scores, labels, folds = random_pairs(11, n_folds=4, per_fold=30)
    res = kfold_verification(scores, labels, folds)
    for t, k in zip(res.thresholds, range(4)):
        s, y = scores[folds != k], labels[folds != k].astype(bool)
        chosen = np.mean((s > t) == y)
        grid = np.linspace(s.min() - 1, s.max() + 1, 2001)
        assert chosen >= max(np.mean((s > g) == y) for g in grid)


def test_hand_example_two_folds():
    # fold 0: pos 0.9, pos 0.6, neg 0.5, neg 0.25
    # fold 1: pos 0.8, pos 0.3, neg 0.5, neg 0.1
    #
    # Test fold 0, train on fold 1 (sorted 0.1n 0.3p 0.5n 0.8p; cuts give 2,3,2,3,2 correct):
    #   best cuts t=0.2 (between 0.1 and 0.3) and t=0.65 tie at 3/4; the smaller, 0.2, wins.
    #   Fold 0 at 0.2: 0.9 ok, 0.6 ok, 0.5 wrong, 0.25 wrong -> 2/4.
    # Test fold 1, train on fold 0 (sorted 0.25n 0.5n 0.6p 0.9p): only t=0.55 is perfect.
    #   Fold 1 at 0.55: 0.8 ok, 0.3 wrong, 0.5 ok, 0.1 ok -> 3/4.
    # mean 0.625, std (ddof=1) = sqrt(2 * 0.125**2) = 0.17678, stderr = std / sqrt(2) = 0.125.
    scores = np.array([0.9, 0.6, 0.5, 0.25, 0.8, 0.3, 0.5, 0.1])
    labels = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    folds = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    res = kfold_verification(scores, labels, folds)
    assert isinstance(res, KFoldResult)
    np.testing.assert_allclose(res.thresholds, [0.2, 0.55])
    np.testing.assert_array_equal(res.accuracies, [0.5, 0.75])
    assert res.mean == pytest.approx(0.625)
    assert res.std == pytest.approx(np.sqrt(2) * 0.125)
    assert res.stderr == pytest.approx(0.125)

    # FaceX-Zoo rule on the same data.
    # Test fold 0: train min 0.1, max 0.8, step 0.0007; TPR-FPR is 0.5 on [0.1, 0.3), 0 on
    #   [0.3, 0.5), 0.5 on [0.5, 0.8): the first candidate 0.1007 wins. Fold 0 -> 2/4 as above.
    # Test fold 1: train min 0.25, max 0.9, step 0.00065; TPR-FPR = 1 on [0.5, 0.6), first
    #   candidate there is 0.25 + 385 * 0.00065 = 0.50025. Fold 1 -> 0.8 ok, 0.3 wrong,
    #   0.5 < 0.50025 ok, 0.1 ok -> 3/4.
    zoo = kfold_verification(scores, labels, folds, rule="facexzoo")
    np.testing.assert_allclose(zoo.thresholds, [0.1007, 0.50025])
    np.testing.assert_array_equal(zoo.accuracies, [0.5, 0.75])


def test_facexzoo_counts_score_equal_to_threshold_as_wrong():
    # Train folds: pos 1.0, neg 0.0 -> step 0.001, TPR-FPR = 1 from the first candidate 0.001.
    # The test fold holds one pos and one neg exactly at 0.001: both are wrong under FaceX-Zoo's
    # rule (pos needs > thr, neg needs < thr). The exact rule's threshold is 0.5, so both its
    # test pairs (at 0.001) are called "different": the negative is right, the positive wrong.
    thr = 0.0 + (1.0 - 0.0) / 1000 * 1
    scores = np.array([1.0, 0.0, thr, thr])
    labels = np.array([1, 0, 1, 0])
    folds = np.array([0, 0, 1, 1])
    zoo = kfold_verification(scores, labels, folds, rule="facexzoo")
    assert zoo.thresholds[1] == thr
    assert zoo.accuracies[1] == 0.0
    assert kfold_verification(scores, labels, folds).accuracies[1] == 0.5


def test_exact_rule_separates_adjacent_floats():
    # The midpoint of two adjacent doubles rounds onto one of them; the cut must still separate.
    lo = np.nextafter(1.0, 2.0)
    hi = np.nextafter(lo, 2.0)
    scores = np.array([lo, hi, lo, hi])
    labels = np.array([0, 1, 0, 1])
    res = kfold_verification(scores, labels, np.array([0, 0, 1, 1]))
    np.testing.assert_array_equal(res.accuracies, [1.0, 1.0])


def test_fold_ids_need_not_be_contiguous_and_dtype_does_not_matter():
    scores, labels, folds = random_pairs(3)
    a = kfold_verification(scores, labels, folds)
    b = kfold_verification(scores.astype(np.float32).astype(np.float64), labels.astype(bool),
                           folds * 7 + 3)
    np.testing.assert_array_equal(a.accuracies, b.accuracies)


def test_lfw_sized_run_is_fast():
    rng = np.random.default_rng(0)
    labels = np.tile(np.repeat([1, 0], 300), 10)
    scores = rng.normal(0.4 * labels, 0.2).astype(np.float32)
    folds = np.arange(6000) // 600
    for rule in ("exact", "facexzoo", "insightface"):
        kfold_verification(scores, labels, folds, rule=rule)
        start = time.perf_counter()
        kfold_verification(scores, labels, folds, rule=rule)
        # A few ms in practice; the bound only catches an accidental O(n^2) or per-threshold loop.
        assert time.perf_counter() - start < 0.1


# -- validation ------------------------------------------------------------------------------------

def test_rejects_bad_inputs():
    s = np.array([0.1, 0.2, 0.3, 0.4])
    y = np.array([1, 0, 1, 0])
    f = np.array([0, 0, 1, 1])
    with pytest.raises(ValueError, match="differ in length"):
        kfold_verification(s[:3], y, f)
    with pytest.raises(ValueError, match="differ in length"):
        kfold_verification(s, y, f[:3])
    with pytest.raises(ValueError, match="NaN"):
        kfold_verification(np.array([0.1, np.nan, 0.3, 0.4]), y, f)
    with pytest.raises(ValueError, match="rule"):
        kfold_verification(s, y, f, rule="median")
    with pytest.raises(ValueError, match="at least 2 folds"):
        kfold_verification(s, y, np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="0/1"):
        kfold_verification(s, np.array([1, 2, 1, 0]), f)
    with pytest.raises(ValueError, match="differ in length"):
        roc_curve(s, y[:2])
    with pytest.raises(ValueError, match="NaN"):
        roc_auc(np.array([np.inf, 0.1]), np.array([1, 0]))


def test_training_split_without_a_class_is_an_error():
    # Fold 1 holds the only negative, so the training split for test fold 1 has no negatives.
    s = np.array([0.9, 0.8, 0.7, 0.1])
    y = np.array([1, 1, 1, 0])
    with pytest.raises(ValueError, match="test fold 1 has no negative"):
        kfold_verification(s, y, np.array([0, 0, 1, 1]))
    with pytest.raises(ValueError, match="no positive"):
        roc_curve(s, np.zeros(4))


# -- ROC, AUC, TAR@FAR, EER ------------------------------------------------------------------------

# Hand example: P = N = 3.
HAND_S = np.array([0.9, 0.8, 0.7, 0.7, 0.3, 0.2])
HAND_Y = np.array([1, 0, 1, 0, 0, 1])


def test_roc_curve_hand_example():
    # score > t accepted. t=0.9: nothing; 0.8: {0.9p}; 0.7: {0.9p, 0.8n};
    # 0.3: + both 0.7s; 0.2: + 0.3n; below 0.2: everything.
    fpr, tpr, thr = roc_curve(HAND_S, HAND_Y)
    np.testing.assert_allclose(fpr, [0, 0, 1 / 3, 2 / 3, 1, 1])
    np.testing.assert_allclose(tpr, [0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 1])
    np.testing.assert_array_equal(thr[:-1], [0.9, 0.8, 0.7, 0.3, 0.2])
    assert thr[-1] < 0.2 and np.all(HAND_S > thr[-1])


def test_auc_hand_example_and_mann_whitney():
    # Pos 0.9 beats 3 negatives; pos 0.7 beats 0.3, ties 0.7, loses to 0.8 -> 1.5; pos 0.2 -> 0.
    # (3 + 1.5 + 0) / 9 = 0.5; the trapezoids 1/9 + 1/6 + 2/9 give the same.
    assert roc_auc(HAND_S, HAND_Y) == pytest.approx(0.5)
    for seed in range(5):
        scores, labels, _ = random_pairs(seed, n_folds=2, per_fold=40)
        pos, neg = scores[labels == 1], scores[labels == 0]
        wins = 0.0
        for p in pos:
            for n in neg:
                wins += 1.0 if p > n else 0.5 if p == n else 0.0
        assert roc_auc(scores, labels) == pytest.approx(wins / (pos.size * neg.size), abs=1e-12)


def test_eer_hand_example():
    # FAR - FRR along the ROC: -1, -2/3, -1/3, +1/3, ... It changes sign between the points
    # (FAR 1/3, FRR 2/3) and (FAR 2/3, FRR 1/3); halfway, FAR = FRR = 1/2.
    assert eer(HAND_S, HAND_Y) == pytest.approx(0.5)
    # Perfect separation: the ROC passes through (0, 1), where FAR = FRR = 0.
    assert eer([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0]) == 0.0
    # Crossing exactly at an operating point: pos {0.9, 0.4}, neg {0.6, 0.1}; at t=0.5
    # FAR = 1/2 and FRR = 1/2.
    assert eer([0.9, 0.4, 0.6, 0.1], [1, 1, 0, 0]) == pytest.approx(0.5)


def test_tar_at_far_hand_example():
    # Operating points (FAR, TAR): (0,0) (0,1/3) (1/3,1/3) (2/3,2/3) (1,2/3) (1,1).
    # The most permissive point with FAR <= target: target 0 -> TAR 1/3, 0.34 -> 1/3,
    # 0.7 -> 2/3, 1 -> 1.
    got = tar_at_far(HAND_S, HAND_Y, [0.0, 0.34, 0.7, 1.0])
    assert list(got) == [0.0, 0.34, 0.7, 1.0]
    np.testing.assert_allclose(list(got.values()), [1 / 3, 1 / 3, 2 / 3, 1.0])


def test_tar_at_far_matches_naive_threshold_scan():
    scores, labels, _ = random_pairs(5, n_folds=4, per_fold=50)
    pos, neg = scores[labels == 1], scores[labels == 0]
    for target in (0.0, 0.01, 0.1, 0.3, 0.5):
        best = 0.0
        for t in sorted(set(scores.tolist())) + [scores.min() - 1]:
            if np.mean(neg > t) <= target:
                best = max(best, float(np.mean(pos > t)))
        assert tar_at_far(scores, labels, [target])[target] == pytest.approx(best)
