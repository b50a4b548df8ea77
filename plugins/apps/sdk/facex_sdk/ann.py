"""Approximate nearest-identity search with FAISS (``pip install 'facex-sdk[faiss]'``): PQ, IVF or HNSW.

All work on inner products of unit vectors (= cosine similarity), return candidates that the gallery
re-scores exactly, and keep each identity's stable id, so identities are added and removed without
rebuilding:

* ``pq`` (``IndexPQFastScan``): every identity as ``pq_m`` 4-bit product-quantisation codes, all
  scanned with SIMD lookups. No partition of the space, so it works on any data, random included;
  linear in N but ~50x less work per identity than float32 scores.
* ``ivf`` (``IndexIVFFlat``): k-means lists, ``nprobe`` of them scanned per probe; fast when the
  embeddings form clusters, poor on unstructured (random) ones.
* ``hnsw`` (``IndexHNSWFlat``): a navigable small-world graph, ``ef_search`` candidates per probe;
  same caveat. FAISS cannot unlink graph nodes: removed ids stay as waypoints, marked dead and
  filtered out of results, and the gallery rebuilds the graph once the dead outnumber the living.

The index is serialised into the gallery file by :meth:`AnnIndex.to_bytes`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from facex_core import ConfigError, DataError

from .config import GalleryConfig

#: IVF training sample: this many rows per list (FAISS warns below 39).
TRAIN_PER_LIST = 64
#: Fewer identities than this are searched exactly (a 4-bit PQ codebook needs 16 training rows).
MIN_ROWS = 16


def import_faiss() -> Any:
    """The ``faiss`` module, or a :class:`ConfigError` saying how to install it."""
    try:
        import faiss
    except ImportError:
        raise ConfigError("gallery.index 'ivf'/'hnsw' needs FAISS: pip install 'facex-sdk[faiss]' (faiss-cpu), "
                          "or use --set gallery.index=exact") from None
    return faiss


def auto_pq_m(dim: int) -> int:
    """PQ sub-quantizers for ``dim``: the largest divisor of ``dim`` not above dim/8 (at most 64)."""
    cap = max(1, min(64, dim // 8))
    return max(m for m in range(1, cap + 1) if dim % m == 0)


def auto_nlist(n: int) -> int:
    """IVF lists for ``n`` identities: about sqrt(n), with at least 39 training rows per list."""
    return max(1, min(int(round(np.sqrt(n))), n // 39))


class AnnIndex:
    """A FAISS index over a gallery's unit embeddings, addressed by the gallery's int64 ids."""

    def __init__(self, config: GalleryConfig, index: Any) -> None:
        self.config = config
        self.index = index
        #: ids removed from an HNSW graph, filtered out of every search
        self.dead = np.zeros(0, dtype=np.int64)

    @classmethod
    def build(cls, config: GalleryConfig, matrix: np.ndarray, ids: np.ndarray, seed: int = 0) -> "AnnIndex":
        """A new index of ``matrix`` (N×D float32 unit rows, N >= :data:`MIN_ROWS`) under ``ids``."""
        faiss = import_faiss()
        dim = matrix.shape[1]
        if config.index == "ivf":
            nlist = config.nlist or auto_nlist(len(matrix))
            if nlist > len(matrix):
                raise ConfigError(f"gallery.nlist: {nlist} lists for {len(matrix)} identities; use at most "
                                  f"{len(matrix)} (0 = about sqrt(N))")
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
            sample = min(len(matrix), TRAIN_PER_LIST * nlist)
            rows = np.sort(np.random.default_rng(seed).choice(len(matrix), sample, replace=False))
            index.train(np.ascontiguousarray(matrix[rows]))
        elif config.index == "pq":
            m = config.pq_m or auto_pq_m(dim)
            if dim % m:
                raise ConfigError(f"gallery.pq_m: {m} does not divide the embedding size {dim}")
            codes = faiss.IndexPQFastScan(dim, m, 4, faiss.METRIC_INNER_PRODUCT)
            sample = np.sort(np.random.default_rng(seed).choice(len(matrix), min(len(matrix), 1 << 16), replace=False))
            codes.train(np.ascontiguousarray(matrix[sample]))
            index = faiss.IndexIDMap2(codes)
        elif config.index == "hnsw":
            graph = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            graph.hnsw.efConstruction = config.ef_construction
            index = faiss.IndexIDMap2(graph)
        else:
            raise ValueError(f"not an approximate index: {config.index!r}")
        built = cls(config, index)
        built.add(matrix, ids)
        return built

    @classmethod
    def from_bytes(cls, config: GalleryConfig, data: np.ndarray, where: str) -> "AnnIndex":
        """The index :meth:`to_bytes` serialised (``where`` names the file in errors)."""
        faiss = import_faiss()
        try:
            return cls(config, faiss.deserialize_index(np.ascontiguousarray(data, dtype=np.uint8)))
        except RuntimeError as exc:
            raise DataError(f"{where}: the FAISS index cannot be read ({str(exc).strip().splitlines()[-1]})") from None

    def to_bytes(self) -> np.ndarray:
        return import_faiss().serialize_index(self.index)

    def __len__(self) -> int:
        """Live entries."""
        return int(self.index.ntotal) - len(self.dead)

    def stale(self, live: int) -> bool:
        """Whether rebuilding pays: the dead entries of an HNSW graph outnumber the ``live`` ones."""
        return len(self.dead) > live

    def add(self, matrix: np.ndarray, ids: np.ndarray) -> None:
        self.index.add_with_ids(np.ascontiguousarray(matrix, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> None:
        """Remove ``ids`` (IVF: from its lists; HNSW: marked dead)."""
        ids = np.asarray(ids, dtype=np.int64)
        if self.config.index == "hnsw":
            self.dead = np.union1d(self.dead, ids)
        else:
            self.index.remove_ids(ids)

    def search(self, probes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, ids)``, M×k, best first; id -1 where the index found fewer than ``k``."""
        faiss = import_faiss()
        params: Any = None
        if self.config.index == "ivf":
            params = faiss.SearchParametersIVF(nprobe=self.config.nprobe)
        elif self.config.index == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(self.config.ef_search, k))
            if len(self.dead):  # kept referenced (batch) while the C++ parameters point at it
                batch = faiss.IDSelectorBatch(self.dead)
                params.sel = faiss.IDSelectorNot(batch)
        return self.index.search(np.ascontiguousarray(probes, dtype=np.float32), k, params=params)
