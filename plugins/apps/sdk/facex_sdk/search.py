"""Exact top-K search by cosine similarity, as a blocked matrix product.

Scores are computed one block of gallery rows at a time and only each probe's K best are kept, so
memory stays at about ``block_mb`` MiB (``probes × block`` scores and their bookkeeping) whatever the
gallery's size: no probes × gallery matrix is ever formed.
"""
from __future__ import annotations

import numpy as np


#: Bytes a block needs per score: the float32 score, its negated copy and the int64 index that
#: ``argpartition`` returns.
BYTES_PER_SCORE = 16


def block_rows(probes: int, block_mb: int) -> int:
    """Gallery rows per block so that scoring one block takes about ``block_mb`` MiB."""
    return max(1024, (block_mb << 20) // (BYTES_PER_SCORE * max(1, probes)))


def _best(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each line's ``k`` best ``scores`` (with their ``rows``), best first, ties by lower row."""
    if scores.shape[1] > k:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        scores, rows = np.take_along_axis(scores, part, 1), np.take_along_axis(rows, part, 1)
    order = np.lexsort((rows, -scores), axis=1)
    return np.take_along_axis(scores, order, 1), np.take_along_axis(rows, order, 1)


def exact_top_k(matrix: np.ndarray, probes: np.ndarray, k: int, block_mb: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, rows)``, each M×min(k, N): the ``k`` gallery rows of ``matrix`` (N×D, unit rows) with
    the highest dot product with each of ``probes`` (M×D), best first."""
    n = len(matrix)
    k = min(k, n)
    probes = np.ascontiguousarray(probes, dtype=matrix.dtype)
    best_s = np.empty((len(probes), 0), dtype=np.float32)
    best_r = np.empty((len(probes), 0), dtype=np.int64)
    step = block_rows(len(probes), block_mb)
    for start in range(0, n, step):
        scores = probes @ matrix[start:start + step].T
        rows = np.broadcast_to(np.arange(start, start + scores.shape[1], dtype=np.int64), scores.shape)
        scores, rows = _best(scores, rows, k)
        best_s, best_r = _best(np.concatenate([best_s, scores], 1), np.concatenate([best_r, rows], 1), k)
    return best_s, best_r
