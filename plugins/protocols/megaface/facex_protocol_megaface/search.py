"""Streaming probe-vs-distractor search: the exact top scores without the full score matrix.

MegaFace compares 3,530 probes with 1,000,000 distractors; the full float32 score matrix is 14 GB.
:class:`DistractorSearch` scores the distractors one chunk at a time and keeps only what the metrics
need:

* per probe, its ``k`` largest distractor scores (identification ranks 1..k);
* over all probe-distractor pairs, the ``keep`` largest scores (verification TAR at FAR <= f needs the
  ``floor(f * n_pairs) + 1``-th largest impostor score, so ``keep`` is that number for the largest f).

Both are exact multisets of values, ties and repeated values included. Each chunk is filtered with a
running lower bound: a probe's current k-th best score, and the current ``keep``-th best global score.
Any score below the bound can never enter the final top lists (the bound only rises as scores are
seen), so dropping it changes nothing. Scores equal to the bound are kept, which keeps duplicates
exact. Only scores that pass the bound are copied out of the chunk; after the first chunk that is a
tiny fraction, so the cost is the matrix product plus one comparison per score.
"""
from __future__ import annotations

import numpy as np

#: Columns of the first chunk used to seed the lower bounds (see :meth:`DistractorSearch._seed`).
SEED_COLUMNS = 16384


class DistractorSearch:
    """Running per-probe top-``k`` and global top-``keep`` scores of ``probes @ distractors.T``.

    Scores are float32 dot products (features arrive L2-normalised, so they are cosines). Call
    :meth:`add` with consecutive chunks of distractor features, then read :attr:`top_per_probe` and
    :meth:`top_overall`.
    """

    def __init__(self, probes: np.ndarray, k: int, keep: int = 0) -> None:
        probes = np.ascontiguousarray(probes, dtype=np.float32)
        if probes.ndim != 2 or probes.shape[0] == 0:
            raise ValueError(f"probes must be a non-empty 2-D array, got shape {probes.shape}")
        if k < 1 or keep < 0:
            raise ValueError(f"need k >= 1 and keep >= 0, got k={k}, keep={keep}")
        self.probes = probes
        self.k = k
        self.keep = keep
        n = probes.shape[0]
        #: Per probe, its k best distractor scores so far, descending; -inf where fewer were seen.
        self.top_per_probe = np.full((n, k), -np.inf, dtype=np.float32)
        self._row_floor = np.full(n, -np.inf, dtype=np.float32)
        # With nothing to keep globally, the global bound must not loosen the per-row one.
        self._global_floor = np.float32(-np.inf if keep else np.inf)
        self._global_parts: list[np.ndarray] = []
        self._global_held = 0
        self.n_distractors = 0
        # Reused output buffers: a fresh 1 GB array per chunk costs as much in page faults as the
        # comparison itself.
        self._scores = np.empty(0, dtype=np.float32)
        self._mask = np.empty(0, dtype=bool)

    # -- public ------------------------------------------------------------------------------------

    def add(self, distractors: np.ndarray) -> None:
        """Score one chunk of distractor features (rows) against every probe."""
        d = np.ascontiguousarray(distractors, dtype=np.float32)
        if d.ndim != 2 or d.shape[1] != self.probes.shape[1]:
            raise ValueError(f"distractor chunk must have shape (n, {self.probes.shape[1]}), "
                             f"got {d.shape}")
        n = d.shape[0]
        if n == 0:
            return
        p = self.probes.shape[0]
        scores = self._buffer("_scores", p * n, np.float32).reshape(p, n)
        np.matmul(self.probes, d.T, out=scores)
        if self.n_distractors == 0:
            self._seed(scores)
        self.n_distractors += n

        # One pass over the chunk with the looser of the two bounds per row.
        bound = np.minimum(self._row_floor, self._global_floor)
        mask = self._buffer("_mask", p * n, bool).reshape(p, n)
        np.greater_equal(scores, bound[:, None], out=mask)
        flat = np.flatnonzero(mask)
        values = scores.reshape(-1)[flat]
        self._merge_rows(flat // n, values)
        self._add_global(values)

    def top_overall(self) -> np.ndarray:
        """The ``keep`` largest scores over all probe-distractor pairs, descending (all of them when
        fewer than ``keep`` were seen)."""
        if not self._global_parts:
            return np.empty(0, dtype=np.float32)
        values = np.concatenate(self._global_parts)
        values = -np.sort(-values)
        return values[:self.keep]

    # -- internals ---------------------------------------------------------------------------------

    def _buffer(self, name: str, size: int, dtype: type) -> np.ndarray:
        buf = getattr(self, name)
        if buf.size < size:
            buf = np.empty(size, dtype=dtype)
            setattr(self, name, buf)
        return buf[:size]

    def _seed(self, scores: np.ndarray) -> None:
        """Lower bounds from the first chunk, so that chunk is filtered too.

        Per probe: split the first ``k * g`` columns into k groups and take each group's maximum.
        Those are k different scores, all >= their minimum, so the minimum is <= the probe's k-th
        best score. Globally: the ``keep``-th largest of a subset of the scores is <= the
        ``keep``-th largest of all of them.
        """
        p, n = scores.shape
        m = min(n, SEED_COLUMNS)
        if m >= self.k:
            g = m // self.k
            groups = scores[:, :self.k * g].reshape(p, self.k, g)
            self._row_floor = groups.max(axis=2).min(axis=1)
        if self.keep and p * m >= self.keep:
            sample = scores[:, :m].flatten()  # always a copy: the chunk itself stays in order
            at = sample.size - self.keep
            sample.partition(at)
            self._global_floor = sample[at]

    def _merge_rows(self, rows: np.ndarray, values: np.ndarray) -> None:
        """Fold candidate (row, value) pairs into each row's top-k list."""
        keep = values >= self._row_floor[rows]
        if not keep.any():
            return
        rows, values = rows[keep], values[keep]
        touched, counts = np.unique(rows, return_counts=True)
        t, k = touched.size, self.k
        # Each touched row's current k values (padded with -inf) plus its candidates, grouped by
        # row (local index) and sorted descending within the group; the first k of each group win.
        local = np.repeat(np.arange(t), counts)
        all_rows = np.concatenate([np.repeat(np.arange(t), k), local])
        all_vals = np.concatenate([self.top_per_probe[touched].ravel(), values])
        order = np.lexsort((-all_vals, all_rows))
        all_rows, all_vals = all_rows[order], all_vals[order]
        sizes = counts + k
        starts = np.cumsum(sizes) - sizes
        pos = np.arange(all_vals.size) - np.repeat(starts, sizes)
        win = pos < k
        best = np.empty((t, k), dtype=np.float32)
        best[all_rows[win], pos[win]] = all_vals[win]
        self.top_per_probe[touched] = best
        self._row_floor[touched] = best[:, -1]

    def _add_global(self, values: np.ndarray) -> None:
        if not self.keep:
            return
        values = values[values >= self._global_floor]
        if values.size:
            self._global_parts.append(values)
            self._global_held += values.size
        # Compact when the candidates reach twice what is kept: amortised O(1) per candidate.
        if self._global_held > 2 * self.keep:
            all_values = np.concatenate(self._global_parts)
            at = all_values.size - self.keep
            all_values.partition(at)
            top = all_values[at:].copy()  # a copy, so the dropped values are freed
            self._global_floor = top[0]  # partition puts the keep-th largest first
            self._global_parts = [top]
            self._global_held = top.size
