"""Streaming search and metrics: exact equality with a dense computation, ties included."""
from __future__ import annotations

import numpy as np
import pytest

from facex_core import tar_at_far
from facex_protocol_megaface import search
from facex_protocol_megaface.metrics import allowed_false_accepts, cmc, genuine_pairs, \
    outranking_counts, tar_at_far_from_top
from facex_protocol_megaface.search import DistractorSearch


def quantised(rng, n, d=6):
    """Features on a 1/4 grid: every dot product is exact in float32 whatever the summation order,
    and the few possible values force many exactly tied scores."""
    return rng.integers(-2, 3, size=(n, d)) / 4


def dense_top(queries, distractors, k, keep):
    full = queries @ distractors.T  # float64, exact on the grid
    per_probe = np.full((len(queries), k), -np.inf)
    for j, row in enumerate(full):
        best = sorted(row.tolist(), reverse=True)[:k]
        per_probe[j, :len(best)] = best
    overall = sorted(full.ravel().tolist(), reverse=True)[:keep]
    return per_probe, np.array(overall)


@pytest.mark.parametrize("chunk", [1, 7, 64, 333, 1000, 4096])
@pytest.mark.parametrize("seed_columns", [3, 50, 16384])
def test_streaming_top_lists_equal_dense(monkeypatch, chunk, seed_columns):
    # seed_columns < chunk exercises seeding from part of the first chunk; chunk sizes do not
    # divide the 1000 distractors; keep = 37 forces repeated compaction of the global list.
    monkeypatch.setattr(search, "SEED_COLUMNS", seed_columns)
    rng = np.random.default_rng(chunk * 31 + seed_columns)
    queries, distractors = quantised(rng, 23), quantised(rng, 1000)
    distractors[500:520] = distractors[0]  # repeated rows: many equal scores per probe
    s = DistractorSearch(queries, k=10, keep=37)
    for start in range(0, len(distractors), chunk):
        s.add(distractors[start:start + chunk])
    per_probe, overall = dense_top(queries, distractors, 10, 37)
    assert s.n_distractors == 1000
    np.testing.assert_array_equal(s.top_per_probe, per_probe)
    np.testing.assert_array_equal(s.top_overall(), overall)


def test_fewer_distractors_than_ranks_pad_with_minus_infinity():
    rng = np.random.default_rng(1)
    queries, distractors = quantised(rng, 4), quantised(rng, 3)
    s = DistractorSearch(queries, k=5, keep=100)
    s.add(distractors)
    per_probe, overall = dense_top(queries, distractors, 5, 100)
    np.testing.assert_array_equal(s.top_per_probe, per_probe)
    assert np.isinf(s.top_per_probe[:, 3:]).all()
    np.testing.assert_array_equal(s.top_overall(), overall)  # fewer than keep: all 12 scores


def test_without_global_list_only_rows_are_kept():
    rng = np.random.default_rng(2)
    queries, distractors = quantised(rng, 5), quantised(rng, 200)
    s = DistractorSearch(queries, k=3, keep=0)
    s.add(distractors[:120])
    s.add(distractors[120:])
    np.testing.assert_array_equal(s.top_per_probe, dense_top(queries, distractors, 3, 0)[0])
    assert s.top_overall().size == 0


def test_search_rejects_bad_input():
    with pytest.raises(ValueError, match="non-empty 2-D"):
        DistractorSearch(np.zeros((0, 4)), k=1)
    s = DistractorSearch(np.ones((2, 4)), k=1)
    with pytest.raises(ValueError, match=r"shape \(n, 4\)"):
        s.add(np.ones((3, 5)))


def test_genuine_pairs_are_all_ordered_same_identity_pairs():
    ids = np.array(["b", "a", "b", "c", "b", "a"])
    g, p = genuine_pairs(ids)
    expected = {(i, j) for i in range(6) for j in range(6) if i != j and ids[i] == ids[j]}
    assert sorted(zip(g.tolist(), p.tolist())) == sorted(expected)
    assert len(g) == 3 * 2 + 2 * 1  # b: 3 images, a: 2, c: 1 (no pair)


def test_cmc_and_tar_equal_a_dense_loop_with_ties():
    # The full MegaFace counting on a small set, against a plain loop over every pair and every
    # distractor score, and the core's tar_at_far over all genuine and impostor scores.
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 6, size=30)
    gallery = quantised(rng, 30)
    queries = gallery.copy()
    distractors = quantised(rng, 700)
    distractors[:30] = gallery  # distractor copies of the gallery tie genuine scores exactly
    max_rank = 10
    full = queries @ distractors.T
    hits, genuine_ref = np.zeros(max_rank), []
    for j in range(30):
        for i in range(30):
            if i == j or ids[i] != ids[j]:
                continue
            s = float(gallery[i] @ queries[j])
            above = sum(1 for v in full[j] if v > s)  # ties do not outrank the genuine image
            for r in range(1, max_rank + 1):
                hits[r - 1] += above < r
            genuine_ref.append(s)
    expected_rates = hits / len(genuine_ref)

    fars = {"a": 1 / full.size, "b": 2.5 / full.size, "c": 1e-3, "d": 0.02, "e": 0.3}
    keep = max(allowed_false_accepts(f, full.size) + 1 for f in fars.values())
    s = DistractorSearch(queries, k=max_rank, keep=keep)
    for start in range(0, 700, 97):
        s.add(distractors[start:start + 97])
    g_idx, p_idx = genuine_pairs(ids)
    genuine = np.einsum("ij,ij->i", gallery[g_idx], queries[p_idx]).astype(np.float32)
    assert sorted(genuine.tolist()) == sorted(genuine_ref)
    rates = cmc(outranking_counts(genuine, p_idx, s.top_per_probe), max_rank)
    np.testing.assert_array_equal(rates, expected_rates)

    tars, thresholds = tar_at_far_from_top(genuine, s.top_overall(), full.size, fars)
    scores = np.concatenate([genuine_ref, full.ravel()])
    labels = np.r_[np.ones(len(genuine_ref)), np.zeros(full.size)]
    core = tar_at_far(scores, labels, fars.values())
    assert tars == {name: pytest.approx(core[far], abs=0) for name, far in fars.items()}
    for name, far in fars.items():  # the threshold really allows at most far * n false accepts
        assert np.count_nonzero(full > thresholds[name]) <= far * full.size


def test_unresolved_far_targets_are_left_out():
    tars, _ = tar_at_far_from_top(np.array([0.5]), np.array([0.9, 0.1]), 100,
                                  {"tar@far=1e-3": 1e-3, "tar@far=1e-2": 1e-2})
    assert list(tars) == ["tar@far=1e-2"]  # 1e-3 x 100 pairs allows no false accept


def test_allowed_false_accepts_matches_float_comparison():
    for n in (1, 7, 1000, 3_530_000_000):
        for far in (1e-6, 1e-3, 0.1, 0.3, 1 / 3):
            c = allowed_false_accepts(far, n)
            assert c / n <= far and (c == n or (c + 1) / n > far)
