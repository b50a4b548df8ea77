"""Template pooling, pair scoring and IJB metrics against independent per-item loops."""
from __future__ import annotations

import numpy as np
import pytest

from facex_protocol_ijb.metrics import allowed_false_alarms, insightface_tar_at_far, search_gallery, \
    thin_roc, tpir_at_fpir, tpir_fpir_curve
from facex_protocol_ijb.templates import pair_scores, pool_templates, template_rows


def loop_pool(features, templates, medias, weights):
    """insightface's rule written plainly: per template, per media, mean; sum; normalise."""
    out = {}
    for t in sorted(set(templates.tolist())):
        total = np.zeros(features.shape[1])
        rows = [i for i in range(len(templates)) if templates[i] == t]
        for m in sorted({int(medias[i]) for i in rows}):
            member = [features[i] * weights[i] for i in rows if medias[i] == m]
            total += np.mean(member, axis=0)
        out[t] = total / np.linalg.norm(total)
    return out


def test_pooling_equals_per_template_loop():
    rng = np.random.default_rng(0)
    n = 300
    templates = rng.choice([3, 17, 18, 40, 41, 42, 99, 1000], size=n)
    medias = rng.integers(0, 6, size=n)  # media ids shared across templates on purpose
    features = rng.standard_normal((n, 8)).astype(np.float32)
    weights = rng.uniform(0.1, 1.0, size=n).astype(np.float32)
    pooled = pool_templates(features, templates, medias, weights)
    expected = loop_pool(features.astype(np.float64), templates, medias, weights.astype(np.float64))
    assert pooled.ids.tolist() == sorted(expected) and pooled.n_zero == 0
    for row, t in enumerate(pooled.ids):
        np.testing.assert_allclose(pooled.features[row], expected[int(t)], rtol=1e-5, atol=1e-6)
    unweighted = pool_templates(features, templates, medias)
    expected = loop_pool(features.astype(np.float64), templates, medias, np.ones(n))
    np.testing.assert_allclose(unweighted.features[0], expected[3], rtol=1e-5, atol=1e-6)


def test_media_mean_versus_image_sum_is_what_pooling_does():
    # Template 1: two frames of one video (media 7) and one still (media 8). The video counts once.
    f = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
    pooled = pool_templates(f, np.array([1, 1, 1]), np.array([7, 7, 8]))
    np.testing.assert_allclose(pooled.features[0], [2 ** -0.5, 2 ** -0.5], rtol=1e-6)


def test_zero_templates_stay_zero():
    f = np.array([[1, 0], [-1, 0], [0, 1]], dtype=np.float32)
    pooled = pool_templates(f, np.array([5, 5, 6]), np.array([1, 2, 3]))
    assert pooled.n_zero == 1
    np.testing.assert_array_equal(pooled.features[0], [0, 0])
    np.testing.assert_array_equal(template_rows(pooled, np.array([6, 5, 7])), [1, 0, -1])


@pytest.mark.parametrize("dense", [True, False, None])
def test_pair_scores_equal_a_loop(dense):
    rng = np.random.default_rng(1)
    feats = rng.standard_normal((50, 8)).astype(np.float32)
    rows1, rows2 = rng.integers(0, 50, size=700), rng.integers(0, 50, size=700)
    got = pair_scores(feats, rows1, rows2, block=7, dense=dense)
    expected = [float(feats[a].astype(np.float64) @ feats[b]) for a, b in zip(rows1, rows2)]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def loop_tar_exact(scores, labels, far):
    """The highest TAR over every threshold whose FAR is at most ``far``."""
    neg = [s for s, y in zip(scores, labels) if not y]
    pos = [s for s, y in zip(scores, labels) if y]
    best = 0.0
    for t in sorted(set(scores)) + [min(scores) - 1]:
        if sum(s > t for s in neg) / len(neg) <= far:
            best = max(best, sum(s > t for s in pos) / len(pos))
    return best


def loop_tar_insightface(scores, labels, far):
    """sklearn's ROC (accept >= each distinct score, collinear middle points dropped, (0, 0) first),
    then the nearest FAR, ties to the later point."""
    points = []
    for t in sorted(set(scores), reverse=True):
        points.append((sum(1 for s, y in zip(scores, labels) if s >= t and not y),
                       sum(1 for s, y in zip(scores, labels) if s >= t and y)))
    if len(points) > 2:
        kept = [points[0]]
        for i in range(1, len(points) - 1):
            (f0, t0), (f1, t1), (f2, t2) = points[i - 1], points[i], points[i + 1]
            if f2 - 2 * f1 + f0 != 0 or t2 - 2 * t1 + t0 != 0:
                kept.append(points[i])
        points = kept + [points[-1]]
    points = [(0, 0)] + points
    n_neg, n_pos = points[-1]
    best_i = 0
    for i, (fp, _) in enumerate(points):
        if abs(fp / n_neg - far) <= abs(points[best_i][0] / n_neg - far):
            best_i = i
    return points[best_i][1] / n_pos


def test_tar_rules_equal_direct_loops():
    # Scores on a coarse grid: many ties, and many collinear ROC points for sklearn's rule to drop.
    rng = np.random.default_rng(2)
    labels = rng.random(400) < 0.3
    scores = np.round(rng.normal(labels * 1.0, 1.0) * 4) / 4
    fars = {"a": 1e-3, "b": 0.01, "c": 0.05, "d": 0.1, "e": 0.33}
    got = insightface_tar_at_far(scores, labels, fars)
    for name, far in fars.items():
        assert got[name] == pytest.approx(loop_tar_insightface(scores.tolist(), labels.tolist(), far))
    from facex_core import tar_at_far  # the rule the protocol uses for tar_rule = "exact"
    exact = tar_at_far(scores, labels, fars.values())
    for far in fars.values():
        assert exact[far] == pytest.approx(loop_tar_exact(scores.tolist(), labels.tolist(), far))


def test_thin_roc_keeps_ends_and_steps():
    fpr = np.linspace(0, 1, 10001)
    tpr = np.sqrt(fpr)
    x, y = thin_roc(fpr, tpr, points=100)
    assert x[0] == 0 and x[-1] == 1 and len(x) <= 102
    assert set(x.tolist()) <= set(fpr.tolist()) and np.all(np.diff(x) > 0)


def test_open_set_search_and_tpir_equal_loops():
    rng = np.random.default_rng(3)
    gallery = rng.standard_normal((12, 6))
    gallery_subjects = np.arange(100, 112)
    probe_subjects = rng.choice(np.arange(100, 118), size=80)  # subjects >= 112 are not enrolled
    probes = gallery[np.clip(probe_subjects - 100, 0, 11)] + rng.normal(scale=1.0, size=(80, 6))
    probes[:5] = np.round(probes[:5])  # a few rounded rows, so exact ties are possible
    res = search_gallery(probes, probe_subjects, gallery, gallery_subjects, block=17)

    ranks, mates, nonmated = [], [], []
    for p, s in zip(probes, probe_subjects):
        scores = [float(p @ g) for g in gallery]
        if s in gallery_subjects:
            m = scores[int(s) - 100]
            ranks.append(sum(v > m for v in scores))
            mates.append(m)
        else:
            nonmated.append(max(scores))
    assert res.outranked.tolist() == ranks
    np.testing.assert_allclose(res.mate_scores, mates)
    np.testing.assert_allclose(res.nonmated_top, nonmated)

    fpirs = {"x": 0.0, "y": 0.1, "z": 0.5}
    tpirs, _ = tpir_at_fpir(res, fpirs)
    for name, rate in fpirs.items():
        best = 0.0  # highest TPIR over thresholds with FPIR <= rate
        for t in sorted(set(nonmated)) + [min(nonmated) - 1]:
            if sum(v > t for v in nonmated) / len(nonmated) <= rate:
                best = max(best, sum(r == 0 and m > t for r, m in zip(ranks, mates)) / len(mates))
        assert tpirs[name] == pytest.approx(best)
    fpir, tpir = tpir_fpir_curve(res)
    assert fpir[0] == 0 and np.all(np.diff(fpir) > 0) and np.all(np.diff(tpir) >= 0)


def test_allowed_false_alarms():
    for n in (1, 9, 10270, 15_658_489):
        for rate in (1e-6, 1e-4, 0.1, 1 / 3):
            c = allowed_false_alarms(rate, n)
            assert c / n <= rate and (c == n or (c + 1) / n > rate)
