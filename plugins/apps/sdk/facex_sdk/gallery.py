"""A gallery: named identities, each the normalised mean of its faces' embeddings, searched by cosine.

Each identity keeps its unit mean embedding, the length of the sum it came from and its face count,
so faces and identities are added and removed without re-embedding the others. Search is exact (a
blocked matrix product, :mod:`facex_sdk.search`) or, with ``[gallery] index = "ivf"|"hnsw"``, through a
FAISS index (:mod:`facex_sdk.ann`) kept in step with every change. A gallery is one ``.npz`` file
(plain arrays and a JSON header, nothing executable; written atomically) holding the identities, the
index, its settings and the identity of the pipeline that embedded the faces (:mod:`facex_sdk.identity`):
probes from another pipeline are refused.
"""
from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import attrs
import numpy as np

from facex_core import ConfigError, DataError

from .ann import MIN_ROWS, AnnIndex
from .config import SEARCH_KEYS, GalleryConfig
from .identity import pipeline_mismatch
from .search import exact_top_k

GALLERY_FORMAT = "facex-sdk-gallery"
GALLERY_VERSION = 1


@attrs.frozen
class Match:
    """One identity a probe was compared with."""

    rank: int
    identity: str
    score: float
    """Cosine similarity of the probe and the identity's mean embedding."""
    match: bool | None
    """``score >= threshold`` (``None`` when no threshold was given)."""
    images: int
    """Faces the identity's mean embedding was made of."""


def _unit_rows(vectors: Any, where: str) -> np.ndarray:
    """``vectors`` (N×D or D) as float32 rows of length 1; a :class:`DataError` for NaN or zero rows."""
    rows = np.array(vectors, dtype=np.float32, ndmin=2)
    if rows.ndim != 2 or not np.isfinite(rows).all():
        raise DataError(f"{where}: expected finite N×D embeddings, got shape {np.shape(vectors)}"
                        f"{'' if rows.ndim != 2 else ' with non-finite values'}")
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    if (norms == 0).any():
        raise DataError(f"{where}: an embedding is all zeros")
    rows /= norms
    return rows


def _group(names: Sequence[str], rows: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``(identities in first-seen order, per-identity sums of rows, per-identity counts)``; ``rows``
    itself when every name appears once (the bulk case: no copy)."""
    order = list(dict.fromkeys(names))
    if len(order) == len(names):
        return order, rows, np.ones(len(order), dtype=np.int64)
    label = {name: k for k, name in enumerate(order)}
    owner = np.fromiter((label[n] for n in names), dtype=np.int64, count=len(names))
    perm = np.argsort(owner, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(owner[perm])) + 1]
    return order, np.add.reduceat(rows[perm].astype(np.float64), starts), np.bincount(owner)


class Gallery:
    """Identities to search; see the module docstring. Build with :meth:`from_embeddings` (or
    :meth:`facex_sdk.FaceAnalyzer.build_gallery`), or :meth:`load` a saved one."""

    def __init__(self, config: GalleryConfig | None = None, pipeline: Mapping[str, Any] | None = None) -> None:
        self.config = config or GalleryConfig()
        #: identity of the pipeline that made the embeddings (``None``: unknown, probes not checked)
        self.pipeline = dict(pipeline) if pipeline is not None else None
        self.names: list[str] = []
        self.embeddings = np.zeros((0, 0), dtype=np.float32)
        self.norms = np.zeros(0, dtype=np.float64)
        self.counts = np.zeros(0, dtype=np.int64)
        self.ids = np.zeros(0, dtype=np.int64)
        self.next_id = 0
        self._rows: dict[str, int] = {}
        self._index: AnnIndex | None = None
        self._id_order: np.ndarray | None = None

    # -- building and changing ----------------------------------------------------------------------
    @classmethod
    def from_embeddings(cls, names: Sequence[str], embeddings: Any, *, config: GalleryConfig | None = None,
                        pipeline: Mapping[str, Any] | None = None) -> "Gallery":
        """A gallery of the faces ``embeddings`` (N×D), ``names[i]`` the identity of row ``i``."""
        gallery = cls(config, pipeline)
        gallery.add(names, embeddings)
        return gallery

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self._rows

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def add(self, names: Sequence[str], embeddings: Any, *, pipeline: Mapping[str, Any] | None = None) -> list[str]:
        """Add faces: ``names[i]`` is the identity of row ``i`` of ``embeddings``; a new name is a new
        identity, a known one gets its mean updated. Returns the identities added or updated.
        ``pipeline`` (the identity of the pipeline that made them) is checked against the gallery's."""
        if pipeline is not None:
            self.check_pipeline(pipeline, "the embeddings to add")
        rows = _unit_rows(embeddings, "gallery add")
        if len(rows) != len(names):
            raise DataError(f"gallery add: {len(names)} names for {len(rows)} embeddings")
        if len(self) and rows.shape[1] != self.dim:
            raise DataError(f"gallery add: {rows.shape[1]}-d embeddings for a gallery of {self.dim}-d ones")
        order, sums, counts = _group(names, rows)
        known = [k for k, name in enumerate(order) if name in self._rows]
        fresh = [k for k, name in enumerate(order) if name not in self._rows]
        at = np.array([self._rows[order[k]] for k in known], dtype=np.int64)
        if known:  # the sum an identity's mean came from is its unit mean times that sum's length
            sums = sums.astype(np.float64)
            sums[known] += self.embeddings[at].astype(np.float64) * self.norms[at, None]
            counts[known] += self.counts[at]
        if sums is rows:  # one new face per new identity: already unit rows
            means, lengths = rows, np.ones(len(order))
        else:
            lengths = np.linalg.norm(sums, axis=1)
            means = (sums / np.maximum(lengths, 1e-12)[:, None]).astype(np.float32)
        new_ids = np.arange(self.next_id, self.next_id + len(order), dtype=np.int64)
        self.next_id += len(order)
        if known:
            if self._index is not None:
                self._index.remove(self.ids[at])
            self.embeddings[at], self.norms[at], self.counts[at], self.ids[at] = \
                means[known], lengths[known], counts[known], new_ids[known]
        if fresh:
            take: Any = slice(None) if len(fresh) == len(order) else fresh  # a slice copies nothing
            self.embeddings = means[take] if not len(self) else np.concatenate([self.embeddings, means[take]])
            self.norms = np.concatenate([self.norms, lengths[take]])
            self.counts = np.concatenate([self.counts, counts[take]])
            self.ids = np.concatenate([self.ids, new_ids[take]])
            for k in fresh:
                self._rows[order[k]] = len(self.names)
                self.names.append(order[k])
        if self._index is not None:
            self._index.add(means, new_ids)
        self._id_order = None
        return order

    def remove(self, names: Iterable[str]) -> None:
        """Remove identities (every name must be in the gallery); the others are left as they are."""
        names = list(dict.fromkeys(names))
        unknown = [n for n in names if n not in self._rows]
        if unknown:
            raise ConfigError(f"not in the gallery: {', '.join(map(repr, unknown))}")
        gone = np.array([self._rows[n] for n in names], dtype=np.int64)
        if self._index is not None:
            self._index.remove(self.ids[gone])
        keep = np.ones(len(self), dtype=bool)
        keep[gone] = False
        self.embeddings, self.norms = self.embeddings[keep], self.norms[keep]
        self.counts, self.ids = self.counts[keep], self.ids[keep]
        self.names = [n for n, k in zip(self.names, keep) if k]
        self._rows = {n: i for i, n in enumerate(self.names)}
        self._id_order = None

    def reindex(self) -> None:
        """Rebuild the approximate index from the identities (e.g. after the gallery grew many times)."""
        self._index = None
        self.index()

    # -- search -------------------------------------------------------------------------------------
    def index(self) -> AnnIndex | None:
        """The FAISS index (built now if needed); ``None`` for ``index = "exact"`` and for galleries too
        small to train one (searched exactly)."""
        if self.config.index == "exact" or len(self) < MIN_ROWS:
            return None
        if self._index is None or self._index.stale(len(self)):
            self._index = AnnIndex.build(self.config, self.embeddings, self.ids)
        return self._index

    def tune(self, **values: Any) -> None:
        """Change search-time settings (``nprobe``, ``ef_search``, ``block_mb``) of this gallery."""
        fixed = sorted(set(values) - set(SEARCH_KEYS))
        if fixed:
            raise ConfigError(f"gallery.{fixed[0]}: fixed when the gallery is built (search-time settings: "
                              f"{', '.join(SEARCH_KEYS)}); rebuild it with `sdk gallery build`")
        self.config = attrs.evolve(self.config, **values)
        if self._index is not None:
            self._index.config = self.config

    def top_k(self, probes: Any, k: int, *, exact: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, rows)``, M×min(k, N), best first, for probe embeddings (M×D or D): exact search,
        or (approximate index, unless ``exact=True``) the index's ``rerank`` best candidates re-scored
        exactly. Rows are -1 (score -inf) where an approximate index found fewer than ``k``."""
        if not len(self):
            raise ConfigError("the gallery is empty")
        queries = _unit_rows(probes, "probe").astype(np.float32)
        if queries.shape[1] != self.dim:
            raise DataError(f"probe: {queries.shape[1]}-d embeddings for a gallery of {self.dim}-d ones "
                            f"(made by another recognizer?)")
        k = min(int(k), len(self))
        index = None if exact else self.index()
        if index is None:
            return exact_top_k(self.embeddings, queries, k, self.config.block_mb)
        _, ids = index.search(queries, min(max(k, self.config.rerank), len(self)))
        if self._id_order is None:
            self._id_order = np.argsort(self.ids, kind="stable")
        found = np.clip(np.searchsorted(self.ids, ids, sorter=self._id_order), 0, len(self) - 1)
        rows = self._id_order[found]
        rows = np.where((ids >= 0) & (self.ids[rows] == ids), rows, -1)
        scores = np.einsum("md,mcd->mc", queries, self.embeddings[np.maximum(rows, 0)])
        scores[rows < 0] = -np.inf
        order = np.lexsort((rows, -scores), axis=1)[:, :k]
        return np.take_along_axis(scores, order, 1), np.take_along_axis(rows, order, 1)

    def search(self, probes: Any, top: int = 5, *, threshold: float | None = None,
               exact: bool | None = None) -> list[list[Match]]:
        """Per probe embedding, the ``top`` identities by score (a decision when ``threshold`` is given)."""
        scores, rows = self.top_k(probes, top, exact=exact)
        return [[Match(rank=r + 1, identity=self.names[i], score=float(s),
                       match=None if threshold is None else bool(s >= threshold), images=int(self.counts[i]))
                 for r, (s, i) in enumerate((s, i) for s, i in zip(line_s, line_r) if i >= 0)]
                for line_s, line_r in zip(scores, rows)]

    def check_pipeline(self, identity: Mapping[str, Any], what: str = "the probe") -> None:
        """A :class:`ConfigError` when ``identity`` is not the pipeline that made this gallery."""
        if self.pipeline is None:
            return
        problem = pipeline_mismatch(self.pipeline, identity)
        if problem:
            stages = ", ".join(f"{k} {v.get('name')}" for k, v in self.pipeline.items())
            raise ConfigError(f"{what} and the gallery come from different pipelines: the gallery was "
                              f"{problem} ({stages}); embed with the gallery's "
                              f"pipeline (--config/--set), or rebuild the gallery with this one")

    # -- the file -----------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the gallery to one ``.npz`` file atomically (a failed write leaves the old file)."""
        from facex_core import __version__, atomic_output

        if not len(self):
            raise ConfigError(f"{path}: not written: the gallery has no identity left")
        index = self.index()
        meta = {"format": GALLERY_FORMAT, "version": GALLERY_VERSION, "config": attrs.asdict(self.config),
                "pipeline": self.pipeline, "next_id": self.next_id, "facex_core": __version__,
                "saved": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        arrays = {"meta": np.array(json.dumps(meta)), "names": np.array(self.names, dtype=str),
                  "embeddings": self.embeddings, "norms": self.norms, "counts": self.counts, "ids": self.ids}
        if index is not None:
            arrays.update(index=index.to_bytes(), index_dead=index.dead)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as fh:  # a file object: np.savez would otherwise append .npz
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Gallery":
        """A gallery :meth:`save` wrote; a :class:`DataError` naming the file when it is not one."""
        from facex_core import structure_config

        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except FileNotFoundError:
            raise ConfigError(f"{path}: gallery file not found (write one with `facex-core sdk gallery build`)") from None
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: not a FaceX gallery file ({exc})") from None
        try:
            meta = json.loads(str(arrays["meta"]))
            if meta.get("format") != GALLERY_FORMAT:
                raise ValueError(f"format {meta.get('format')!r}")
            if meta.get("version") != GALLERY_VERSION:
                raise ValueError(f"version {meta.get('version')!r}; this facex-sdk reads {GALLERY_VERSION}")
            names = [str(n) for n in arrays["names"]]
            embeddings = np.asarray(arrays["embeddings"], dtype=np.float32)
            n = len(names)
            if embeddings.ndim != 2 or len(embeddings) != n or any(len(arrays[k]) != n for k in
                                                                   ("norms", "counts", "ids")):
                raise ValueError("arrays of different lengths")
            if len(set(names)) != n or not np.isfinite(embeddings).all():
                raise ValueError("repeated identity names or non-finite embeddings")
        except (KeyError, ValueError, TypeError) as exc:
            raise DataError(f"{path}: not a FaceX gallery file written by `facex-core sdk gallery build` "
                            f"({exc})") from None
        gallery = cls(structure_config(GalleryConfig, meta["config"], path="gallery", source=str(path)),
                      meta.get("pipeline"))
        gallery.names, gallery.embeddings = names, embeddings
        gallery.norms = arrays["norms"].astype(np.float64)
        gallery.counts, gallery.ids = arrays["counts"].astype(np.int64), arrays["ids"].astype(np.int64)
        gallery.next_id = int(meta["next_id"])
        gallery._rows = {name: i for i, name in enumerate(names)}
        if "index" in arrays and gallery.config.index != "exact":
            gallery._index = AnnIndex.from_bytes(gallery.config, arrays["index"], str(path))
            gallery._index.dead = arrays.get("index_dead", np.zeros(0, np.int64)).astype(np.int64)
        return gallery

    def info(self) -> dict[str, Any]:
        """A summary: identities, faces, dimension, index settings, pipeline stages."""
        return {"identities": len(self), "faces": int(self.counts.sum()), "dim": self.dim if len(self) else 0,
                "config": attrs.asdict(self.config),
                "index_size": None if self._index is None else len(self._index),
                "pipeline": None if self.pipeline is None else {k: v.get("name") for k, v in self.pipeline.items()}}
