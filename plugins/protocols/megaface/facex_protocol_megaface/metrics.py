"""MegaFace metrics from the streamed top scores: identification CMC and verification TAR@FAR.

Genuine pairs follow the MegaFace protocol: for every identity with images 1..m and every ordered
pair (i, j), i != j, image i is added to the distractors as the gallery and image j is the probe.
A pair scores a hit at rank r when fewer than r distractors score strictly higher against the probe
than the gallery image does: a distractor that ties the genuine score does not outrank it (FaceX-Zoo's
``score >= r-th distractor score``, which it states matches the official devkit).
"""
from __future__ import annotations

import numpy as np


def genuine_pairs(identities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All ordered (gallery, probe) index pairs of different images of the same identity.

    ``identities`` holds one label per image. Pairs come grouped by probe; within an identity the
    order follows the images' positions.
    """
    ids = np.asarray(identities)
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    sizes = np.diff(np.r_[starts, ids.size])
    # For each image (sorted position q), its group's start and size.
    group_start = np.repeat(starts, sizes)
    group_size = np.repeat(sizes, sizes)
    probe_pos = np.repeat(np.arange(ids.size), group_size)
    offset = np.arange(probe_pos.size) - np.repeat(np.cumsum(group_size) - group_size, group_size)
    gallery_pos = np.repeat(group_start, group_size) + offset
    other = gallery_pos != probe_pos
    return order[gallery_pos[other]], order[probe_pos[other]]


def pair_scores(gallery: np.ndarray, probes: np.ndarray, gallery_idx: np.ndarray,
                probe_idx: np.ndarray, batch: int = 16384) -> np.ndarray:
    """float32 dot product of each (gallery row, probe row) pair, in batches to bound memory."""
    out = np.empty(gallery_idx.size, dtype=np.float32)
    for s in range(0, gallery_idx.size, batch):
        g = gallery[gallery_idx[s:s + batch]]
        p = probes[probe_idx[s:s + batch]]
        out[s:s + batch] = np.einsum("ij,ij->i", g, p)
    return out


def outranking_counts(genuine: np.ndarray, probe_idx: np.ndarray, top_per_probe: np.ndarray) -> np.ndarray:
    """Per genuine pair, how many of its probe's top-k distractor scores are strictly higher
    (k means "not within rank k")."""
    counts = np.empty(genuine.size, dtype=np.int64)
    for s in range(0, genuine.size, 65536):
        top = top_per_probe[probe_idx[s:s + 65536]]
        counts[s:s + 65536] = np.count_nonzero(top > genuine[s:s + 65536, None], axis=1)
    return counts


def cmc(counts: np.ndarray, max_rank: int) -> np.ndarray:
    """Identification rate at ranks 1..max_rank from :func:`outranking_counts`."""
    hits = np.bincount(np.minimum(counts, max_rank), minlength=max_rank + 1)[:max_rank]
    return np.cumsum(hits) / counts.size


def allowed_false_accepts(far: float, n_impostors: int) -> int:
    """The largest count c with ``c / n_impostors <= far`` (as floats, like the core's ROC)."""
    c = int(np.floor(far * n_impostors))
    while c + 1 <= n_impostors and (c + 1) / n_impostors <= far:
        c += 1
    while c > 0 and c / n_impostors > far:
        c -= 1
    return c


def tar_at_far_from_top(genuine: np.ndarray, top_impostors: np.ndarray, n_impostors: int,
                        fars: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """TAR at each target FAR from the descending top impostor scores; also the thresholds.

    The operating point is the core's (``facex_core.tar_at_far``): accept ``score > t`` at the
    lowest ``t`` whose FAR is <= the target. With c allowed false accepts that ``t`` is the
    (c+1)-th largest impostor score, which ``top_impostors`` must contain. Targets that allow no
    false accept at all (``far * n_impostors < 1``) are left out: they are not resolved.
    """
    tars: dict[str, float] = {}
    thresholds: dict[str, float] = {}
    for name, far in fars.items():
        c = allowed_false_accepts(far, n_impostors)
        if c < 1:
            continue
        if c >= top_impostors.size:
            raise ValueError(f"{name}: needs the {c + 1}-th largest impostor score but only "
                             f"{top_impostors.size} were kept")
        t = top_impostors[c]
        tars[name] = float(np.count_nonzero(genuine > t) / genuine.size)
        thresholds[name] = float(t)
    return tars, thresholds
