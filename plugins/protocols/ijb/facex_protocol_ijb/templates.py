"""Template features (insightface's IJB rule) and template-pair scores, vectorised.

A template's feature: the (optionally detector-score weighted) image features are averaged within
each media (the frames of one video, or a single still), the media averages are summed, and the
sum is L2-normalised. Grouping uses one sort and ``np.add.at``, never a loop over templates.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class TemplateFeatures(NamedTuple):
    """Pooled templates: sorted unique ids and their unit (or, for all-zero sums, zero) features."""

    ids: np.ndarray
    features: np.ndarray
    n_zero: int
    """Templates whose pooled sum was exactly zero (left as zero vectors, scoring 0 everywhere)."""


def pool_templates(image_features: np.ndarray, templates: np.ndarray, medias: np.ndarray,
                   weights: np.ndarray | None = None, chunk: int = 65536) -> TemplateFeatures:
    """Pool image rows into templates: mean within (template, media), sum over media, normalise.

    ``image_features[i]`` belongs to template ``templates[i]`` and media ``medias[i]``; ``weights``
    (e.g. detector face scores) multiply the image features first.
    """
    x = np.asarray(image_features, dtype=np.float32)
    n, dim = x.shape
    # Number the (template, media) groups in sorted order; media_of[i] is image i's group.
    order = np.lexsort((medias, templates))
    t, m = templates[order], medias[order]
    new_media = np.r_[True, (t[1:] != t[:-1]) | (m[1:] != m[:-1])]
    media_of = np.empty(n, dtype=np.int64)
    media_of[order] = np.cumsum(new_media) - 1
    n_media = int(media_of.max()) + 1
    # Unbuffered scatter-adds (np.add.at) in row chunks: no sorted copy of the image features, and
    # several times faster than np.add.reduceat along the rows.
    sums = np.zeros((n_media, dim), dtype=np.float32)
    for s in range(0, n, chunk):
        rows = x[s:s + chunk]
        if weights is not None:
            rows = rows * np.asarray(weights[s:s + chunk], dtype=np.float32)[:, None]
        np.add.at(sums, media_of[s:s + chunk], rows)
    sums /= np.bincount(media_of, minlength=n_media).astype(np.float32)[:, None]
    media_template = t[new_media]  # template of each group, ascending
    new_template = np.r_[True, media_template[1:] != media_template[:-1]]
    template_sums = np.zeros((int(new_template.sum()), dim), dtype=np.float32)
    np.add.at(template_sums, np.cumsum(new_template) - 1, sums)
    norms = np.linalg.norm(template_sums, axis=1)
    zero = norms == 0
    features = template_sums / np.where(zero, 1.0, norms).astype(np.float32)[:, None]
    return TemplateFeatures(media_template[new_template], features, int(zero.sum()))


def template_rows(pooled: TemplateFeatures, ids: np.ndarray) -> np.ndarray:
    """Row of each template id in ``pooled``; ids that were not pooled give -1."""
    pos = np.searchsorted(pooled.ids, ids)
    pos = np.minimum(pos, pooled.ids.size - 1)
    return np.where(pooled.ids[pos] == ids, pos, -1)


def _compact(rows: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """(used row ids ascending, position of each entry among them), by counting instead of sorting."""
    used = np.zeros(n_rows, dtype=bool)
    used[rows] = True
    return np.flatnonzero(used), (np.cumsum(used) - 1)[rows]


def pair_scores(features: np.ndarray, rows1: np.ndarray, rows2: np.ndarray, block: int = 1024,
                dense: bool | None = None) -> np.ndarray:
    """Dot product of each pair of template rows.

    IJB pair lists are dense over their templates (IJB-B: 8M pairs among 1,845 x 10,270 templates),
    so by default blocks of full rows are scored by matrix products and the pairs read off them;
    sparse pair lists gather the two rows of each pair instead. Both give the same scores up to
    float32 rounding; ``dense`` forces one path.
    """
    n = rows1.size
    out = np.empty(n, dtype=np.float32)
    left, left_pos = _compact(rows1, features.shape[0])
    right, right_pos = _compact(rows2, features.shape[0])
    if dense is None:
        dense = n * 8 >= left.size * right.size
    if not dense:
        for s in range(0, n, 65536):
            out[s:s + 65536] = np.einsum("ij,ij->i", features[rows1[s:s + 65536]], features[rows2[s:s + 65536]])
        return out
    right_features = np.ascontiguousarray(features[right].T)
    # Pairs grouped by block of left rows; a stable sort of small integers is a radix sort.
    block_of = left_pos // block
    by_block = np.argsort(block_of.astype(np.int32 if block_of.max() >= 32768 else np.int16), kind="stable")
    bounds = np.searchsorted(block_of[by_block], np.arange(block_of.max() + 2))
    for b in range(bounds.size - 1):
        sel = by_block[bounds[b]:bounds[b + 1]]
        if sel.size == 0:
            continue
        scores = features[left[b * block:(b + 1) * block]] @ right_features
        out[sel] = scores.ravel()[(left_pos[sel] - b * block) * right.size + right_pos[sel]]
    return out
