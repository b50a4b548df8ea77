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

from facex_core import (Curve, Protocol, ProtocolResult, eer, kfold_verification, roc_auc, roc_curve,
                        tar_at_far)

from .cache import unpack

#: Metric name -> target FAR (LFW's 3,000 negatives make 1e-3 three false accepts).
TAR_TARGETS = {"tar@far=1e-3": 1e-3, "tar@far=1e-2": 1e-2, "tar@far=1e-1": 1e-1}


#: Pairs per block when scoring: the float64 copies of one block stay a few MB.
SCORE_BLOCK = 512


def pair_dots(features: Mapping[str, np.ndarray], first: list[str], second: list[str]) -> np.ndarray:
    """``features[first[i]] . features[second[i]]`` in float64, block by block: no full-size copy
    of the features, and one C-level conversion per block rather than one numpy call per image."""
    out = np.empty(len(first))
    for s in range(0, len(first), SCORE_BLOCK):
        a = np.array([features[name] for name in first[s:s + SCORE_BLOCK]], dtype=np.float64)
        b = np.array([features[name] for name in second[s:s + SCORE_BLOCK]], dtype=np.float64)
        out[s:s + SCORE_BLOCK] = np.einsum("ij,ij->i", a.reshape(len(a), -1), b.reshape(len(b), -1))
    return out


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
        return pair_dots(features, names[0::2], names[1::2])

    def evaluate(self, features: Mapping[str, np.ndarray]) -> ProtocolResult:
        """k-fold accuracy with the configured rule, plus threshold-free AUC/EER/TAR."""
        labels = self.labels
        folds = self.fold_ids()
        scores = self.scores(features)
        rule = self.config.threshold_rule
        kfold = kfold_verification(scores, labels, folds, rule=rule)
        fpr, tpr, _ = roc_curve(scores, labels)
        tars = tar_at_far(scores, labels, TAR_TARGETS.values())
        metrics = {
            "accuracy": kfold.mean,
            "accuracy_std": kfold.std,
            "accuracy_stderr": kfold.stderr,
            "auc": roc_auc(scores, labels),
            "eer": eer(scores, labels),
            **{name: tars[far] for name, far in TAR_TARGETS.items()},
        }
        details = {
            "bin": str(self.bin_path),
            "threshold_rule": rule,
            "threshold_unit": "squared_l2" if rule == "insightface" else "cosine",
            "fold_accuracies": kfold.accuracies.tolist(),
            "fold_thresholds": kfold.thresholds.tolist(),
            # InsightFace prints mean +- np.std(accuracies), the population std (ddof=0).
            "accuracy_std_ddof0": float(np.std(kfold.accuracies)),
            "n_pairs": int(labels.size),
            "n_positive": int(labels.sum()),
            "n_negative": int((~labels).sum()),
        }
        roc = Curve(name="roc", x=fpr, y=tpr, x_label="FAR", y_label="TAR", log_x=True)
        return ProtocolResult(metrics=metrics, primary="accuracy", curves=[roc], details=details)
