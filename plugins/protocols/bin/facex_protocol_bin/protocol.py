"""The ``.bin`` protocol: InsightFace's packed verification sets, scored like InsightFace does.

Images are unpacked once into a cache folder (see :mod:`.cache`) that serves as ``image_root``.
Pair k is images ``2k`` and ``2k+1``; the folds are InsightFace's unshuffled 10-fold split
(consecutive blocks, the first ``N % folds`` one pair larger). The engine's features are the
flip-summed, L2-normalised embeddings InsightFace uses, so with the default ``insightface`` rule
the accuracy is InsightFace's (thresholds ``arange(0, 4, 0.01)`` on ``2 - 2cos``).
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Mapping

import numpy as np

from facex_core import Protocol, ProtocolResult, pair_scores, verification_result

from .cache import unpack

def kfold_ids(n: int, folds: int) -> np.ndarray:
    """Fold id of each of ``n`` pairs as sklearn's ``KFold(folds, shuffle=False)`` assigns them."""
    if n < folds:
        raise ValueError(f"{n} pairs cannot be split into {folds} folds")
    sizes = np.full(folds, n // folds)
    sizes[:n % folds] += 1
    return np.repeat(np.arange(folds), sizes)


class BinProtocol(Protocol):
    """Verification on an InsightFace ``.bin``: 10-fold accuracy, AUC, EER, TAR@FAR, ROC."""

    @property
    def bin_path(self) -> Path:
        """The .bin file: ``path``, or ``data_dir/<standard file name>`` for the named sets."""
        if hasattr(self.config, "path"):
            return Path(self.config.path)
        return Path(self.config.data_dir) / self.config.file_name

    @property
    def image_root(self) -> Path:
        """The cache folder the .bin's images are unpacked into."""
        stem = self.bin_path.stem
        if self.config.cache_dir:
            return Path(self.config.cache_dir) / stem
        return self.bin_path.with_name(f"{stem}_images")

    def fingerprint(self) -> str:
        """The config plus the .bin's size and modification time: the image names (``0.jpg``, ...)
        do not change when another .bin replaces the file, so the feature cache must see it here."""
        try:
            st = self.bin_path.stat()
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        return f"{super().fingerprint()}|{stamp}"

    @cached_property
    def _unpacked(self) -> tuple[list[str], np.ndarray]:
        # First use unpacks (or finds the earlier unpack); building the protocol touches no file.
        names, issame = unpack(self.bin_path, self.image_root)
        return names, np.asarray(issame, dtype=bool)

    def images(self) -> list[str]:
        """The unpacked image files, relative to :attr:`image_root`, in .bin order."""
        return list(self._unpacked[0])

    @property
    def labels(self) -> np.ndarray:
        """``issame`` of each pair."""
        return self._unpacked[1]

    def fold_ids(self) -> np.ndarray:
        return kfold_ids(self.labels.size, self.config.folds)

    def scores(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """Cosine similarity of each pair (consecutive images), from L2-normalised features."""
        names = self._unpacked[0]
        missing = [name for name in names if name not in features]
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise KeyError(f"no feature for image {missing[0]!r}{more} (unpacked from {self.bin_path} "
                           f"into {self.image_root})")
        return pair_scores(features, names[0::2], names[1::2])

    def evaluate(self, features: Mapping[str, np.ndarray]) -> ProtocolResult:
        """k-fold accuracy with the configured rule, plus threshold-free AUC/EER/TAR."""
        return verification_result(self.scores(features), self.labels, self.fold_ids(), self.config.threshold_rule,
                                   {"bin": str(self.bin_path)})
