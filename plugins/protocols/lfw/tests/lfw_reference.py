"""Test helper: independent per-fold accuracy, a plain loop over candidate thresholds per rule.

Nothing is shared with facex_core: each rule is written out as its source describes it (FaceX-Zoo's
``lfw_evaluator.py``, InsightFace's ``calculate_roc``), with numpy only for counting inside the loop.
"""
from __future__ import annotations

import numpy as np


def pair_scores(pairs, features):
    """Dot product of each pair's features, one pair at a time."""
    return np.array([float(np.dot(features[a], features[b])) for a, b, _ in pairs])


def reference_kfold(scores, labels, folds, rule):
    """(per-fold accuracies, per-fold thresholds) in sorted fold-id order."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    folds = np.asarray(folds)
    accs, thresholds = [], []
    for k in sorted(set(folds.tolist())):
        s, y = scores[folds != k], labels[folds != k]
        ts, ty = scores[folds == k], labels[folds == k]
        if rule == "exact":
            u = sorted(set(s.tolist()))
            gap = (u[-1] - u[0]) / (len(u) - 1) if len(u) > 1 else 1.0
            cands = [u[0] - gap / 2] + [(a + b) / 2 for a, b in zip(u, u[1:])] + [u[-1] + gap / 2]
            best, t = -1, None
            for c in cands:
                right = int(np.sum((s > c) == y))
                if right > best:
                    best, t = right, c
            acc = np.mean((ts > t) == ty)
        elif rule == "facexzoo":
            step = (s.max() - s.min()) / 1000
            best, t = None, None
            for i in range(1, 1001):
                c = s.min() + step * i
                gain = np.sum(s[y] > c) / y.sum() - np.sum(s[~y] > c) / (~y).sum()
                if best is None or gain > best:
                    best, t = gain, c
            acc = (np.sum(ts[ty] > t) + np.sum(ts[~ty] < t)) / ts.size
        elif rule == "insightface":
            d, td = 2 - 2 * s, 2 - 2 * ts
            best, t = -1.0, None
            for c in np.arange(0, 4, 0.01):
                a = float(np.sum(np.less(d, c) == y)) / d.size
                if a > best:
                    best, t = a, c
            acc = float(np.sum(np.less(td, t) == ty)) / td.size
        else:
            raise ValueError(rule)
        accs.append(float(acc))
        thresholds.append(float(t))
    return accs, thresholds


def random_unit_features(names, rng, dim=8, identity=None, noise=1.0):
    """Unit features; images of the same identity (``identity(name)``) share a centre."""
    centres = {}
    out = {}
    for name in names:
        key = identity(name) if identity else name
        if key not in centres:
            centres[key] = rng.normal(size=dim)
        v = centres[key] + rng.normal(scale=noise, size=dim)
        out[name] = v / np.linalg.norm(v)
    return out
