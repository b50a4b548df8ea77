"""The LFW-family protocols: k-fold verification accuracy over the pairs of an official pairs file.

:class:`PairProtocol` holds everything they share (image list, scoring, metrics); each protocol
only says how its official file becomes pairs and fold ids.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from facex_core import Protocol, ProtocolResult, pair_scores, verification_result

from .agedb import read_agedb30
from .cfp import read_cfp
from .pairs import Pair, lfw_pairs, read_cross_lfw_pairs

#: Folds of a pairs file without a header when the config does not set ``folds`` (LFW's 10).
DEFAULT_FOLDS = 10


def consecutive_folds(n: int, folds: int, pairs_per_fold: int, source: Any) -> np.ndarray:
    """Fold id of each of ``n`` pairs: consecutive blocks of ``pairs_per_fold`` (0 = n/folds)."""
    per_fold = pairs_per_fold or n // folds
    if per_fold == 0 or per_fold * folds != n:
        how = (f"pairs_per_fold = {pairs_per_fold}" if pairs_per_fold
               else "pairs_per_fold = 0 (total/folds)")
        raise ValueError(f"{source}: {n} pairs cannot be split into {folds} folds with {how}; "
                         "folds x pairs_per_fold must equal the number of pairs")
    return np.arange(n) // per_fold


class PairProtocol(Protocol):
    """Pair verification: score = dot product of the two L2-normalised features of a pair; for
    each fold a threshold is chosen on the other folds and accuracy is measured on it.

    Subclasses implement :meth:`read` (pairs and fold ids from the official files).
    """

    @property
    def source(self) -> str:
        """The file or folder the pairs come from, for messages."""
        return str(self.config.pairs_file)

    @property
    def image_root(self) -> Path:
        return Path(self.config.image_root)

    def read(self) -> tuple[list[Pair], np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    @cached_property
    def _loaded(self) -> tuple[list[Pair], np.ndarray]:
        # Read on first use, so building the protocol touches no file.
        return self.read()

    @property
    def pairs(self) -> list[Pair]:
        """The pairs in evaluation order."""
        return self._loaded[0]

    def fold_ids(self) -> np.ndarray:
        """Fold id of each pair."""
        return self._loaded[1]

    @cached_property
    def _image_names(self) -> tuple[str, ...]:
        return tuple(sorted({name for pair in self.pairs for name in (pair.first, pair.second)}))

    def images(self) -> list[str]:
        """Every image a pair names, relative to :attr:`image_root`, sorted and without repeats."""
        return list(self._image_names)

    def scores(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """Cosine similarity of each pair (features arrive L2-normalised, so a dot product)."""
        names = self._image_names
        missing = [name for name in names if name not in features]
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise KeyError(f"no feature for image {missing[0]!r}{more} (named by {self.source})")
        return pair_scores(features, [p.first for p in self.pairs], [p.second for p in self.pairs])

    def evaluate(self, features: Mapping[str, np.ndarray]) -> ProtocolResult:
        """k-fold accuracy with the configured threshold rule, plus threshold-free AUC/EER/TAR."""
        labels = np.array([p.same for p in self.pairs], dtype=bool)
        return verification_result(self.scores(features), labels, self.fold_ids(), self.config.threshold_rule,
                                   {"n_images": len(self._image_names)})


class LFWProtocol(PairProtocol):
    """LFW (and RFW): an LFW-format pairs file; folds are consecutive blocks of pairs in file order.

    A header (LFW's ``10 300``) says how many folds of how many pairs; the config's ``folds`` and
    ``pairs_per_fold`` apply only to a file without one (RFW's), and must agree with it when set.
    """

    def read(self) -> tuple[list[Pair], np.ndarray]:
        header, pairs = lfw_pairs(self.config.pairs_file)
        folds, per_fold = self.config.folds, self.config.pairs_per_fold
        if header is not None:
            text = (f"{self.source}: the header '{header[0]} {header[1]}' announces {header[0]} fold(s) of "
                    f"{2 * header[1]} pairs")
            if folds is not None and folds != header[0]:
                raise ValueError(f"{text}, but the config sets folds = {folds}; leave folds unset to "
                                 "use the header's")
            if per_fold and per_fold != 2 * header[1]:
                raise ValueError(f"{text}, but the config sets pairs_per_fold = {per_fold}; leave it at 0 "
                                 "to use the header's")
            if header[0] < 2:
                raise ValueError(f"{text}; k-fold verification needs at least 2 folds")
            folds, per_fold = header[0], 2 * header[1]
        return pairs, consecutive_folds(len(pairs), DEFAULT_FOLDS if folds is None else folds, per_fold,
                                        self.config.pairs_file)


class RFWProtocol(LFWProtocol):
    """RFW: LFW's format without the header line (one file per race)."""


class CPLFWProtocol(PairProtocol):
    """CPLFW: 6,000 pairs of consecutive ``image label`` lines, rebuilt into 10 folds of 600."""

    nonzero_is_same = False

    def read(self) -> tuple[list[Pair], np.ndarray]:
        pairs = read_cross_lfw_pairs(self.config.pairs_file, nonzero_is_same=self.nonzero_is_same)
        return pairs, consecutive_folds(len(pairs), 10, 0, self.config.pairs_file)


class CALFWProtocol(CPLFWProtocol):
    """CALFW: as CPLFW, but every non-zero label means "same"."""

    nonzero_is_same = True


class AgeDB30Protocol(PairProtocol):
    """AgeDB-30: the official ``splits`` of the protocol .mat file, split k = fold k."""

    def read(self) -> tuple[list[Pair], np.ndarray]:
        return read_agedb30(self.config.pairs_file)


class CFPProtocol(PairProtocol):
    """CFP-FP or CFP-FF (per the config class): the official ``Protocol/Split`` folders."""

    @property
    def source(self) -> str:
        return str(Path(self.config.protocol_dir) / "Split" / self.config.split)

    def read(self) -> tuple[list[Pair], np.ndarray]:
        return read_cfp(self.config.protocol_dir, self.config.split)
