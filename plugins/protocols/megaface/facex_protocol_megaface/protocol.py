"""The MegaFace protocols: FaceScrub probes searched among MegaFace distractors, streamed in chunks."""
from __future__ import annotations

import posixpath
from functools import cached_property
from pathlib import Path
from typing import Mapping

import numpy as np

from facex_core import Curve, Protocol, ProtocolResult

from .lists import ProbeList, read_distractor_list, read_facescrub_noises, read_image_list, \
    read_megaface_noises, read_probe_list
from .metrics import allowed_false_accepts, cmc, genuine_pairs, outranking_counts, pair_scores, \
    tar_at_far_from_top
from .noise import facescrub_noise_mask, megaface_noise_mask, replace_facescrub_noise
from .plugin import MegaFaceConfig, MegaFaceMaskConfig
from .search import DistractorSearch

#: Metric name -> target FAR. Impostor pairs are probe x distractor pairs (3.53e9 for the 1M set).
TAR_TARGETS = {"tar@far=1e-6": 1e-6, "tar@far=1e-5": 1e-5, "tar@far=1e-4": 1e-4, "tar@far=1e-3": 1e-3}


class MegaFaceProtocol(Protocol):
    """MegaFace challenge 1 identification (CMC) and verification (TAR@FAR), with noise cleaning.

    Probes and galleries are the FaceScrub images; every probe is searched among the distractors
    plus one other image of its identity, for every such image.
    """

    config: MegaFaceConfig

    @property
    def image_root(self) -> Path:
        return Path(self.config.image_root)

    # -- inputs (read on first use, so building the protocol touches no file) ----------------------

    @cached_property
    def probe_list(self) -> ProbeList:
        return read_probe_list(self.config.facescrub_list)

    @cached_property
    def distractor_paths(self) -> list[str]:
        return read_distractor_list(self.config.megaface_list)

    def _key(self, folder: str, path: str) -> str:
        """Feature key (crop path relative to image_root) of a devkit path under ``folder``."""
        if self.config.image_ext:
            path = posixpath.splitext(path)[0] + self.config.image_ext
        # Plain concatenation: posixpath.join costs seconds over a million distractors.
        return f"{folder.rstrip('/')}/{path}" if folder else path

    @cached_property
    def probe_keys(self) -> list[str]:
        return [self._key(self.config.facescrub_dir, p) for p in self.probe_list.paths]

    @cached_property
    def distractor_keys(self) -> list[str]:
        return [self._key(self.config.megaface_dir, p) for p in self.distractor_paths]

    def query_keys(self) -> list[str]:
        """Keys of the probe features searched among the distractors (unmasked here)."""
        return self.probe_keys

    def images(self) -> list[str]:
        """FaceScrub crops (then masked ones, for megaface_mask), then distractors, in list order."""
        keys = list(self.probe_keys)
        if self.query_keys() is not self.probe_keys:
            keys += self.query_keys()
        keys += self.distractor_keys
        self._check_image_lists()
        return keys

    def _image_lists(self) -> list[tuple[str, list[str]]]:
        """(image list file, keys it must hold) for each configured image list."""
        if not self.config.image_list_file:
            return []
        return [(self.config.image_list_file, self.probe_keys + self.distractor_keys)]

    def _check_image_lists(self) -> None:
        for list_file, keys in self._image_lists():
            listed = read_image_list(list_file)
            missing = [k for k in keys if k not in listed]
            if missing:
                more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
                raise ValueError(f"{list_file}: image {missing[0]!r}{more} needed by the protocol "
                                 "is not in the image list")

    # -- features ---------------------------------------------------------------------------------

    @staticmethod
    def _require(features: Mapping[str, np.ndarray], keys: list[str], source: str) -> None:
        missing = [k for k in keys if k not in features]
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise KeyError(f"no feature for image {missing[0]!r}{more} (named by {source})")

    @staticmethod
    def _stack(features: Mapping[str, np.ndarray], keys: list[str]) -> np.ndarray:
        """Rows of ``keys`` as one new float32 matrix (one conversion for the whole chunk)."""
        return np.stack([features[k] for k in keys], dtype=np.float32).reshape(len(keys), -1)

    def _clean_facescrub(self, matrix: np.ndarray) -> tuple[np.ndarray, int]:
        if not self.config.facescrub_noises:
            return matrix, 0
        noisy = facescrub_noise_mask(self.probe_list.paths, read_facescrub_noises(self.config.facescrub_noises))
        return replace_facescrub_noise(matrix, self.probe_list.paths, noisy), int(noisy.sum())

    def _distractor_noise(self) -> np.ndarray:
        if not self.config.megaface_noises:
            return np.zeros(len(self.distractor_paths), dtype=bool)
        return megaface_noise_mask(self.distractor_paths, read_megaface_noises(self.config.megaface_noises))

    # -- evaluation -------------------------------------------------------------------------------

    def evaluate(self, features: Mapping[str, np.ndarray]) -> ProtocolResult:
        """Stream the distractors in chunks; CMC over ranks 1..max_rank and TAR at FAR 1e-6..1e-3."""
        cfg = self.config
        self._require(features, self.probe_keys, cfg.facescrub_list)
        if self.query_keys() is not self.probe_keys:
            self._require(features, self.query_keys(), cfg.facescrub_list + " (masked crops)")
        self._require(features, self.distractor_keys, cfg.megaface_list)

        gallery, n_probe_noise = self._clean_facescrub(self._stack(features, self.probe_keys))
        if self.query_keys() is self.probe_keys:
            queries = gallery
        else:
            queries, _ = self._clean_facescrub(self._stack(features, self.query_keys()))
        gallery_idx, probe_idx = genuine_pairs(np.asarray(self.probe_list.ids))
        if gallery_idx.size == 0:
            raise ValueError(f"{cfg.facescrub_list}: no identity has two images, so there is no "
                             "genuine pair to search for")

        n_distractors = len(self.distractor_keys)
        n_impostors = queries.shape[0] * n_distractors
        # Keep enough of the largest impostor scores for the loosest resolved FAR target.
        keep = max((allowed_false_accepts(f, n_impostors) + 1 for f in TAR_TARGETS.values()), default=0)
        search = DistractorSearch(queries, k=cfg.max_rank, keep=keep)
        noise = self._distractor_noise()
        for start in range(0, n_distractors, cfg.chunk_size):
            stop = min(start + cfg.chunk_size, n_distractors)
            chunk = self._stack(features, self.distractor_keys[start:stop])
            chunk[noise[start:stop]] = 0.0  # a fresh array: the caller's features stay untouched
            search.add(chunk)

        genuine = pair_scores(gallery, queries, gallery_idx, probe_idx)
        counts = outranking_counts(genuine, probe_idx, search.top_per_probe)
        rates = cmc(counts, cfg.max_rank)
        tars, thresholds = tar_at_far_from_top(genuine, search.top_overall(), n_impostors, TAR_TARGETS)

        metrics = {f"rank-{r}": float(rates[r - 1]) for r in range(1, cfg.max_rank + 1)}
        metrics.update(tars)
        details = {
            "ties": "a distractor scoring exactly the genuine score does not outrank it",
            "n_probe_images": queries.shape[0],
            "n_identities": len(set(self.probe_list.ids)),
            "n_distractors": n_distractors,
            "n_genuine_pairs": int(genuine.size),
            "n_impostor_pairs": n_impostors,
            "facescrub_noise_replaced": n_probe_noise,
            "megaface_noise_zeroed": int(noise.sum()),
            "tar_thresholds": thresholds,
            "unresolved_fars": [name for name in TAR_TARGETS if name not in tars],
            "masked_probes": self.query_keys() is not self.probe_keys,
        }
        ranks = np.arange(1, cfg.max_rank + 1)
        curve = Curve(name="cmc", x=ranks, y=rates, x_label="rank", y_label="identification rate")
        return ProtocolResult(metrics=metrics, primary="rank-1", curves=[curve], details=details)


class MaskedMegaFaceProtocol(MegaFaceProtocol):
    """MegaFace-Mask: masked FaceScrub probes, unmasked FaceScrub galleries, the same distractors."""

    config: MegaFaceMaskConfig

    @cached_property
    def masked_keys(self) -> list[str]:
        return [self._key(self.config.masked_facescrub_dir, p) for p in self.probe_list.paths]

    def query_keys(self) -> list[str]:
        return self.masked_keys

    def _image_lists(self) -> list[tuple[str, list[str]]]:
        lists = super()._image_lists()
        if self.config.masked_image_list_file:
            lists.append((self.config.masked_image_list_file, self.masked_keys))
        return lists
