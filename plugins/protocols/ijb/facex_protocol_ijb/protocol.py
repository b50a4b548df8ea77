"""The IJB-B / IJB-C protocols: 1:1 template verification and 1:N mixed-media identification."""
from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import ClassVar, Mapping

import numpy as np

from facex_core import Curve, Protocol, ProtocolResult, roc_auc, roc_curve, tar_at_far

from .meta import TemplateMedia, TemplatePairs, TemplateSubjects, read_face_scores, read_image_list, \
    read_template_media, read_template_pairs, read_template_subjects
from .metrics import SearchResult, allowed_false_alarms, insightface_tar_at_far, search_gallery, \
    thin_roc, tpir_at_fpir, tpir_fpir_curve
from .plugin import IJB1NConfig, IJBConfig
from .templates import TemplateFeatures, pair_scores, pool_templates, template_rows

TAR_TARGETS = {"tar@far=1e-6": 1e-6, "tar@far=1e-5": 1e-5, "tar@far=1e-4": 1e-4,
               "tar@far=1e-3": 1e-3, "tar@far=1e-2": 1e-2, "tar@far=1e-1": 1e-1}
TPIR_TARGETS = {"tpir@fpir=1e-3": 1e-3, "tpir@fpir=1e-2": 1e-2, "tpir@fpir=1e-1": 1e-1}


class _IJBProtocol(Protocol):
    """What both IJB protocols share: the meta files and the template features."""

    target: ClassVar[str]
    """File-name prefix of the meta files: ``ijbb`` or ``ijbc``."""

    @property
    def image_root(self) -> Path:
        return Path(self.config.image_root)

    def _meta(self, suffix: str) -> Path:
        return Path(self.config.meta_dir) / f"{self.target}_{suffix}"

    @cached_property
    def template_media(self) -> TemplateMedia:
        return read_template_media(self._meta("face_tid_mid.txt"))

    def needed_templates(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    @cached_property
    def _lines(self) -> np.ndarray:
        """Lines of the template/media list whose template the protocol uses."""
        tm = self.template_media
        return np.flatnonzero(np.isin(tm.templates, self.needed_templates()))

    @cached_property
    def _image_names(self) -> tuple[str, ...]:
        return tuple(sorted({self.template_media.images[i] for i in self._lines}))

    def images(self) -> list[str]:
        """Every image of a used template, relative to :attr:`image_root`, sorted, without repeats."""
        names = list(self._image_names)
        if self.config.image_list_file:
            listed = read_image_list(self.config.image_list_file)
            missing = [n for n in names if n not in listed]
            if missing:
                more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
                raise ValueError(f"{self.config.image_list_file}: image {missing[0]!r}{more} needed by "
                                 "the protocol is not in the image list")
        return names

    def _check_templates(self, ids: np.ndarray, source: str) -> None:
        known = np.isin(ids, self.template_media.templates)
        if not known.all():
            bad = int(np.flatnonzero(~known)[0])
            raise ValueError(f"{source}: template {int(ids[bad])} (entry {bad + 1}) has no image in "
                             f"{self._meta('face_tid_mid.txt')}")

    def template_features(self, features: Mapping[str, np.ndarray]) -> TemplateFeatures:
        """Pool the used images into template features (detector-weighted when configured)."""
        tm = self.template_media
        names = [tm.images[i] for i in self._lines]
        missing = [n for n in self._image_names if n not in features]
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise KeyError(f"no feature for image {missing[0]!r}{more} (named by "
                           f"{self._meta('face_tid_mid.txt')})")
        weights = None
        if self.config.use_detector_score:
            path = self._meta("name_5pts_score.txt")
            scores = read_face_scores(path)
            unscored = [n for n in self._image_names if n not in scores]
            if unscored:
                raise ValueError(f"{path}: no detector score for image {unscored[0]!r} "
                                 "(set use_detector_score = false to pool unweighted)")
            weights = np.array([scores[n] for n in names], dtype=np.float32)
        matrix = np.stack([features[n] for n in names], dtype=np.float32).reshape(len(names), -1)
        return pool_templates(matrix, tm.templates[self._lines], tm.medias[self._lines], weights)

    def _details(self, pooled: TemplateFeatures) -> dict:
        return {
            "n_templates": int(pooled.ids.size),
            "n_images": len(self._image_names),
            "zero_templates": pooled.n_zero,
            "detector_weighted": self.config.use_detector_score,
            "image_features": "engine features (flip-summed when evaluation.flip = 'sum'), "
                              "L2-normalised per image before weighting and pooling",
        }


class IJBProtocol(_IJBProtocol):
    """1:1 verification over the template pairs of ``<t>_template_pair_label.txt``."""

    config: IJBConfig

    @cached_property
    def pairs(self) -> TemplatePairs:
        return read_template_pairs(self._meta("template_pair_label.txt"))

    def needed_templates(self) -> np.ndarray:
        pairs = self.pairs
        path = self._meta("template_pair_label.txt")
        # Pair entry k is the k-th pair of the file (its line, unless the file has blank lines).
        self._check_templates(pairs.first, f"{path} (first template)")
        self._check_templates(pairs.second, f"{path} (second template)")
        return np.unique(np.r_[pairs.first, pairs.second])

    def scores(self, features: Mapping[str, np.ndarray]) -> tuple[np.ndarray, TemplateFeatures]:
        """Cosine similarity of each template pair, in file order, and the pooled templates."""
        pooled = self.template_features(features)
        rows1 = template_rows(pooled, self.pairs.first)
        rows2 = template_rows(pooled, self.pairs.second)
        return pair_scores(pooled.features, rows1, rows2), pooled

    def evaluate(self, features: Mapping[str, np.ndarray]) -> ProtocolResult:
        """TAR at FAR 1e-6..1e-1 (primary 1e-4), AUC and the ROC curve."""
        scores, pooled = self.scores(features)
        labels = self.pairs.same
        if self.config.tar_rule == "insightface":
            tars = insightface_tar_at_far(scores, labels, TAR_TARGETS)
        else:
            exact = tar_at_far(scores, labels, TAR_TARGETS.values())
            tars = {name: exact[far] for name, far in TAR_TARGETS.items()}
        fpr, tpr, _ = roc_curve(scores, labels)
        n_neg = int((~labels).sum())
        metrics = {**tars, "auc": roc_auc(scores, labels)}
        details = {
            **self._details(pooled),
            "tar_rule": self.config.tar_rule,
            "n_pairs": int(labels.size),
            "n_genuine": int(labels.sum()),
            "n_impostor": n_neg,
            # Targets that allow no false accept: their TAR is the TAR at FAR 0.
            "unresolved_fars": [name for name, far in TAR_TARGETS.items()
                                if allowed_false_alarms(far, n_neg) < 1],
        }
        x, y = thin_roc(fpr, tpr)
        roc = Curve(name="roc", x=x, y=y, x_label="FAR", y_label="TAR", log_x=True)
        return ProtocolResult(metrics=metrics, primary="tar@far=1e-4", curves=[roc], details=details)


class IJB1NProtocol(_IJBProtocol):
    """1:N identification: mixed-media probe templates searched in each of the two galleries."""

    config: IJB1NConfig
    galleries: ClassVar[tuple[str, str]]

    @cached_property
    def gallery_lists(self) -> dict[str, TemplateSubjects]:
        out = {}
        for g in self.galleries:
            path = self._meta(f"1N_gallery_{g}.csv")
            lst = read_template_subjects(path)
            subjects, counts = np.unique(lst.subjects, return_counts=True)
            if (counts > 1).any():
                raise ValueError(f"{path}: subject {int(subjects[counts > 1][0])} has "
                                 f"{int(counts[counts > 1][0])} gallery templates; expected one per subject")
            self._check_templates(lst.templates, str(path))
            out[g] = lst
        return out

    @cached_property
    def probe_list(self) -> TemplateSubjects:
        path = self._meta("1N_probe_mixed.csv")
        lst = read_template_subjects(path)
        self._check_templates(lst.templates, str(path))
        return lst

    def needed_templates(self) -> np.ndarray:
        return np.unique(np.concatenate([self.probe_list.templates,
                                         *(g.templates for g in self.gallery_lists.values())]))

    def evaluate(self, features: Mapping[str, np.ndarray]) -> ProtocolResult:
        """Rank-1..K over both galleries' mated searches; TPIR at FPIR averaged over the galleries."""
        pooled = self.template_features(features)
        probes = pooled.features[template_rows(pooled, self.probe_list.templates)]
        k = self.config.max_rank
        results: dict[str, SearchResult] = {}
        per_gallery: dict[str, dict] = {}
        curves = []
        for g, lst in self.gallery_lists.items():
            gallery = pooled.features[template_rows(pooled, lst.templates)]
            res = search_gallery(probes, self.probe_list.subjects, gallery, lst.subjects)
            if res.mate_scores.size == 0 or res.nonmated_top.size == 0:
                kind = "mated" if res.mate_scores.size == 0 else "non-mated"
                raise ValueError(f"{self._meta(f'1N_gallery_{g}.csv')}: no {kind} probe search; "
                                 "TPIR at FPIR needs both")
            tpirs, thresholds = tpir_at_fpir(res, TPIR_TARGETS)
            results[g] = res
            per_gallery[g] = {
                "n_templates": int(lst.templates.size), "n_mated": int(res.mate_scores.size),
                "n_nonmated": int(res.nonmated_top.size), "rank-1": float(np.mean(res.outranked == 0)),
                **tpirs, "thresholds": thresholds,
                "unresolved_fpirs": [n for n, f in TPIR_TARGETS.items()
                                     if allowed_false_alarms(f, res.nonmated_top.size) < 1],
            }
            fpir, tpir = tpir_fpir_curve(res)
            curves.append(Curve(name=f"tpir_fpir_{g.lower()}", x=fpir, y=tpir, x_label="FPIR",
                                y_label="TPIR (rank 1)", log_x=True))
        outranked = np.concatenate([r.outranked for r in results.values()])
        rates = np.array([np.mean(outranked < r) for r in range(1, k + 1)])
        metrics = {f"rank-{r}": float(rates[r - 1]) for r in range(1, k + 1)}
        metrics.update({name: float(np.mean([per_gallery[g][name] for g in results])) for name in TPIR_TARGETS})
        details = {
            **self._details(pooled),
            "n_probe_templates": int(self.probe_list.templates.size),
            "galleries": per_gallery,
            "ties": "a non-mate scoring exactly the mate's score does not outrank it",
        }
        curves.insert(0, Curve(name="cmc", x=np.arange(1, k + 1), y=rates, x_label="rank",
                               y_label="identification rate"))
        return ProtocolResult(metrics=metrics, primary="rank-1", curves=curves, details=details)


class IJBBProtocol(IJBProtocol):
    """IJB-B 1:1 verification (``ijbb_*`` meta files)."""

    target = "ijbb"


class IJBCProtocol(IJBProtocol):
    """IJB-C 1:1 verification (``ijbc_*`` meta files)."""

    target = "ijbc"


class IJBB1NProtocol(IJB1NProtocol):
    """IJB-B 1:N identification: galleries S1 and S2."""

    target = "ijbb"
    galleries = ("S1", "S2")


class IJBC1NProtocol(IJB1NProtocol):
    """IJB-C 1:N identification: galleries G1 and G2."""

    target = "ijbc"
    galleries = ("G1", "G2")
