"""Template features (insightface's IJB rule) and template-pair scores, vectorised.

A template's feature: the (optionally detector-score weighted) image features are averaged within
each media (the frames of one video, or a single still), the media averages are summed, and the
sum is L2-normalised. Grouping uses one sort and ``np.add.reduceat``, never a loop over templates.
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
                   weights: np.ndarray | None = None) -> TemplateFeatures:
    """Pool image rows into templates: mean within (template, media), sum over media, normalise.

    ``image_features[i]`` belongs to template ``templates[i]`` and media ``medias[i]``; ``weights``
    (e.g. detector face scores) multiply the image features first.
    """
    # Sort by (template, media) so that each group is a contiguous run of rows.
    order = np.lexsort((medias, templates))
    x = np.asarray(image_features, dtype=np.float32)[order]  # the one copy of the image features
    if weights is not None:
        x *= np.asarray(weights, dtype=np.float32)[order, None]
    t, m = templates[order], medias[order]
    new_media = np.r_[True, (t[1:] != t[:-1]) | (m[1:] != m[:-1])]
    media_starts = np.flatnonzero(new_media)
    counts = np.diff(np.r_[media_starts, t.size])
    media_means = np.add.reduceat(x, media_starts, axis=0) / counts[:, None].astype(np.float32)
    media_template = t[media_starts]
    template_starts = np.flatnonzero(np.r_[True, media_template[1:] != media_template[:-1]])
    sums = np.add.reduceat(media_means, template_starts, axis=0)
    norms = np.linalg.norm(sums, axis=1)
    zero = norms == 0
    features = (sums / np.where(zero, 1.0, norms)[:, None]).astype(np.float32)
    return TemplateFeatures(media_template[template_starts], features, int(zero.sum()))


def template_rows(pooled: TemplateFeatures, ids: np.ndarray) -> np.ndarray:
    """Row of each template id in ``pooled``; ids that were not pooled give -1."""
    pos = np.searchsorted(pooled.ids, ids)
    pos = np.minimum(pos, pooled.ids.size - 1)
    return np.where(pooled.ids[pos] == ids, pos, -1)


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
    left, left_pos = np.unique(rows1, return_inverse=True)
    right, right_pos = np.unique(rows2, return_inverse=True)
    if dense is None:
        dense = n * 8 >= left.size * right.size
    if not dense:
        for s in range(0, n, 65536):
            out[s:s + 65536] = np.einsum("ij,ij->i", features[rows1[s:s + 65536]], features[rows2[s:s + 65536]])
        return out
    right_features = features[right]
    by_left = np.argsort(left_pos, kind="stable")
    bounds = np.searchsorted(left_pos[by_left], np.arange(0, left.size + block, block))
    for b in range(0, left.size, block):
        scores = features[left[b:b + block]] @ right_features.T
        sel = by_left[bounds[b // block]:bounds[b // block + 1]]
        out[sel] = scores[left_pos[sel] - b, right_pos[sel]]
    return out
