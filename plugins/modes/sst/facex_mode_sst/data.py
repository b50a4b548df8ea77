"""SST training data: one item per identity = two views of it, each augmented reproducibly.

Items are indexed by ``(identity index, seed)`` like the core's ``FaceImageDataset``; the seed comes
from the core's ``EpochSampler`` and fixes the image choice and every augmentation decision, so a
run gives the same batches whatever the number of loader workers and after a resume.
"""
from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from facex_core import ImageLoadError, load_image

from ._core import AugmentConfig, EpochSampler, core_augment, to_tensor

#: FaceX-Zoo's crop jitter: up to this many pixels off each border of a 112-pixel crop.
CROP_JITTER_112 = 9


def sst_augment(img: np.ndarray, seed: int | Sequence[int], flip: bool = True) -> np.ndarray:
    """FaceX-Zoo's SST augmentation of one BGR ``uint8`` H×W×3 image, fixed by ``seed``.

    In order: with p 0.5 a random crop (each border moved in by 0–8 px at 112 px, scaled with the
    image size) resized back to H×W; with p 0.5 a horizontal flip (when ``flip``); with p 0.2
    greyscale (replicated into all three channels); with p 0.5 a rotation by a random whole angle
    in [−10°, 10°] about the image centre (black borders). Every draw is made whatever the branch,
    so each decision depends on the seed only.
    """
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    m = max(1, round(CROP_JITTER_112 * min(h, w) / 112))
    do_crop = rng.random() < 0.5
    x1, y1 = (int(v) for v in rng.integers(0, m, size=2))
    x2, y2 = int(rng.integers(w - m, w)), int(rng.integers(h - m, h))
    do_flip = rng.random() < 0.5
    do_grey = rng.random() < 0.2
    do_rotate = rng.random() < 0.5
    angle = int(rng.integers(-10, 11))
    out = img
    if do_crop:
        out = cv2.resize(out[y1:y2, x1:x2], (w, h), interpolation=cv2.INTER_LINEAR)
    if flip and do_flip:
        out = out[:, ::-1]
    if do_grey:
        out = cv2.cvtColor(np.ascontiguousarray(out), cv2.COLOR_BGR2GRAY)
        out = cv2.cvtColor(out, cv2.COLOR_GRAY2BGR)
    if do_rotate and angle:
        rot = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle, 1.0)
        out = cv2.warpAffine(np.ascontiguousarray(out), rot, (w, h), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    return np.ascontiguousarray(out)


def pick_pair(count: int, rng: np.random.Generator) -> tuple[int, int]:
    """Two distinct positions in ``range(count)`` in random order (``(0, 0)`` when ``count`` is 1)."""
    if count < 1:
        raise ValueError("an identity without images")
    if count == 1:
        return 0, 0
    i = int(rng.integers(count))
    j = int(rng.integers(count - 1))
    return i, j + (j >= i)


class SSTPairDataset(Dataset):
    """Identities of a (path, label) list; item ``(index, seed)`` → ``(2×3×H×W views, label)``.

    Each view: flip and the SST transform (:func:`sst_augment`, when ``augment``), then the core's
    ``[data.augment]`` transforms (``extra``, when any is active). With ``bad_log``, an unreadable
    image is logged there and replaced by the identity's next readable one.
    """

    def __init__(self, root: str | os.PathLike, samples: Sequence[tuple[str, int]],
                 input_size: tuple[int, int] = (112, 112), augment: bool = True, flip: bool = True,
                 crop_eye: bool = False, extra: AugmentConfig | None = None,
                 bad_log: str | os.PathLike | None = None) -> None:
        self.root = Path(root)
        groups: dict[int, list[str]] = defaultdict(list)
        for rel, label in samples:
            groups[int(label)].append(rel)
        if not groups:
            raise ValueError("SST training data is empty")
        self.labels = sorted(groups)
        self.groups = [groups[label] for label in self.labels]
        self.input_size = tuple(input_size)
        self.augment = augment
        self.flip = flip
        self.crop_eye = crop_eye
        self.extra = extra if extra is not None and extra.active else None
        self.bad_log = Path(bad_log) if bad_log else None

    def __len__(self) -> int:
        return len(self.labels)

    def images_per_identity(self) -> float:
        return sum(len(g) for g in self.groups) / len(self.groups)

    def allowed(self, excluded: Iterable[int]) -> list[int]:
        """Indices of the identities whose label is not in ``excluded``."""
        skip = {int(x) for x in excluded}
        return [i for i, label in enumerate(self.labels) if label not in skip]

    def _load(self, index: int, position: int) -> np.ndarray:
        """Image ``position`` of identity ``index``; with a bad-image log, the next readable one instead."""
        paths = self.groups[index]
        for k in range(len(paths)):
            try:
                return load_image(self.root / paths[(position + k) % len(paths)])
            except ImageLoadError as exc:
                if self.bad_log is None:
                    raise
                with open(self.bad_log, "a", encoding="utf-8") as fh:  # one short append per line
                    fh.write(f"{exc}\n")
        raise ImageLoadError(f"{self.root}: identity {self.labels[index]}: none of its {len(paths)} images "
                             f"is readable (listed in {self.bad_log})")

    def _view(self, img: np.ndarray, seed: Sequence[int]) -> torch.Tensor:
        if self.augment:
            img = sst_augment(img, seed, flip=self.flip)
        elif self.flip and np.random.default_rng(seed).random() < 0.5:
            img = img[:, ::-1]
        if self.extra is not None:
            img = core_augment(img, self.extra, int(np.random.default_rng([*seed, 1]).integers(2**31)))
        return to_tensor(img, None if self.crop_eye else self.input_size, self.crop_eye)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        index, seed = key if isinstance(key, tuple) else (key, 0)
        a, b = pick_pair(len(self.groups[index]), np.random.default_rng([seed, 0]))
        views = [self._view(self._load(index, a), [seed, 1]), self._view(self._load(index, b), [seed, 2])]
        return torch.stack(views), self.labels[index]


class SubsetEpochSampler(Sampler):
    """The core's :class:`EpochSampler` over a subset of the identities (those not in the queue).

    Yields ``(identity index, seed)``; ``start`` skips the first positions (resume mid-epoch).
    """

    def __init__(self, indices: Sequence[int], seed: int, epoch: int, start: int = 0) -> None:
        self.indices = list(indices)
        self.inner = EpochSampler(len(self.indices), seed, epoch, start=start)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for pos, sample_seed in self.inner:
            yield self.indices[pos], sample_seed

    def __len__(self) -> int:
        return len(self.inner)
