"""The LFW protocol: 10-fold verification accuracy over the pairs of an LFW-format pairs file."""
from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Mapping

import numpy as np

from facex_core import (Curve, Protocol, ProtocolResult, eer, kfold_verification, roc_auc, roc_curve,
                        tar_at_far)

from .pairs import Pair, read_pairs
from .plugin import LFWConfig

#: Metric name -> target FAR. With LFW's 3,000 negatives, 1e-3 is three false accepts.
TAR_TARGETS = {"tar@far=1e-3": 1e-3, "tar@far=1e-2": 1e-2, "tar@far=1e-1": 1e-1}


class LFWProtocol(Protocol):
    """LFW verification: score = dot product of the two L2-normalised features of a pair, folds
    are consecutive blocks of pairs in file order, accuracy is averaged over the folds."""

    config: LFWConfig

    @property
    def image_root(self) -> Path:
        return Path(self.config.image_root)

    @cached_property
    def pairs(self) -> list[Pair]:
        """The pairs in file order (read on first use, so building the protocol touches no file)."""
        return read_pairs(self.config.pairs_file)

    @cached_property
    def _image_names(self) -> tuple[str, ...]:
        return tuple(sorted({name for pair in self.pairs for name in (pair.first, pair.second)}))

    def images(self) -> list[str]:
        """Every image a pair names, relative to :attr:`image_root`, sorted and without repeats."""
        return list(self._image_names)

    def fold_ids(self) -> np.ndarray:
        """Fold index of each pair: consecutive blocks of ``pairs_per_fold`` pairs."""
        n = len(self.pairs)
        k = self.config.folds
        per_fold = self.config.pairs_per_fold or n // k
        if per_fold == 0 or per_fold * k != n:
            how = (f"pairs_per_fold = {self.config.pairs_per_fold}" if self.config.pairs_per_fold
                   else "pairs_per_fold = 0 (total/folds)")
            raise ValueError(f"{self.config.pairs_file}: {n} pairs cannot be split into {k} folds "
                             f"with {how}; folds x pairs_per_fold must equal the number of pairs")
        return np.arange(n) // per_fold

    def scores(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """Cosine similarity of each pair (features arrive L2-normalised, so a dot product)."""
        names = self._image_names
        index = {name: i for i, name in enumerate(names)}
        missing = [name for name in names if name not in features]
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise KeyError(f"no feature for image {missing[0]!r}{more} "
                           f"(named by {self.config.pairs_file})")
        matrix = np.stack([np.asarray(features[name], dtype=np.float64).ravel() for name in names])
        first = matrix[[index[p.first] for p in self.pairs]]
        second = matrix[[index[p.second] for p in self.pairs]]
        return np.einsum("ij,ij->i", first, second)

    def evaluate(self, features: Mapping[str, np.ndarray]) -> ProtocolResult:
        """k-fold accuracy with the configured threshold rule, plus threshold-free AUC/EER/TAR."""
        folds = self.fold_ids()  # before scoring: a wrong fold setup should fail fast
        scores = self.scores(features)
        labels = np.array([p.same for p in self.pairs], dtype=bool)
        kfold = kfold_verification(scores, labels, folds, rule=self.config.threshold_rule)
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
            "threshold_rule": self.config.threshold_rule,
            "fold_accuracies": kfold.accuracies.tolist(),
            "fold_thresholds": kfold.thresholds.tolist(),
            "n_pairs": int(labels.size),
            "n_positive": int(labels.sum()),
            "n_negative": int((~labels).sum()),
            "n_images": len(self._image_names),
        }
        roc = Curve(name="roc", x=fpr, y=tpr, x_label="FAR", y_label="TAR", log_x=True)
        return ProtocolResult(metrics=metrics, primary="accuracy", curves=[roc], details=details)
