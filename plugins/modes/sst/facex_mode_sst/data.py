"""SST training data: one item per identity = two views of it, each read and augmented by the core.

The views come from the experiment's own training data set (``FaceImageDataset``, whatever the
``[data] format``: train list, image folder or a plugin's, e.g. RecordIO), so flip, ``[data.augment]`` (with
``training.augment``: FaceX-Zoo's SST recipe, :func:`sst_augment`), normalisation and the
bad-image policy are the core's. Items are indexed by ``(identity index, seed)`` with the seed from
the core's ``EpochSampler``; it fixes the image choice and every augmentation decision, so a run
gives the same batches whatever the number of loader workers and after a resume.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

import attrs
import numpy as np
import torch
from torch.utils.data import Dataset

from facex_core import AugmentConfig, FaceImageDataset, ImageLoadError

#: FaceX-Zoo's SST augmentation (semi-siamese_training/train_dataset.py): each view is cropped and
#: resized back with p 0.5, turned grey with p 0.2 and rotated by up to ±10° with p 0.5.
SST_RECIPE = {"crop_resize": 0.5, "grayscale": 0.2, "rotation": 0.5}


def sst_augment(augment: AugmentConfig) -> AugmentConfig:
    """``[data.augment]`` with the SST recipe's probability wherever the table leaves one at 0, so an
    explicit value wins and the recipe is never applied twice."""
    return attrs.evolve(augment, **{key: getattr(augment, key) or p for key, p in SST_RECIPE.items()})


def pick_pair(count: int, rng: np.random.Generator) -> tuple[int, int]:
    """Two distinct positions in ``range(count)`` in random order (``(0, 0)`` when ``count`` is 1)."""
    if count < 1:
        raise ValueError("an identity without images")
    if count == 1:
        return 0, 0
    i = int(rng.integers(count))
    j = int(rng.integers(count - 1))
    return i, j + (j >= i)


def view_seed(seed: int, view: int) -> int:
    """The per-image seed of view ``view`` (1 or 2) of the item drawn with ``seed``."""
    return int(np.random.default_rng([seed, view]).integers(2**31))


class SSTPairDataset(Dataset):
    """The identities of a core training data set; item ``(index, seed)`` → ``(2×3×H×W views, label)``.

    An unreadable image is handled by ``images`` (the core's policy: an error naming the file, or
    with ``data.max_bad_images`` logged and replaced); a replacement of another identity is
    refused here and the identity's next image is taken instead, so both views always show it.
    """

    def __init__(self, images: FaceImageDataset) -> None:
        self.images = images
        groups: dict[int, list[int]] = defaultdict(list)
        for index, (_, label) in enumerate(images.samples):
            groups[int(label)].append(index)
        if not groups:
            raise ValueError("SST training data is empty")
        self.labels = sorted(groups)
        self.groups = [groups[label] for label in self.labels]

    def __len__(self) -> int:
        return len(self.labels)

    def allowed(self, excluded: Iterable[int]) -> list[int]:
        """Indices of the identities whose label is not in ``excluded``."""
        skip = {int(x) for x in excluded}
        return [i for i, label in enumerate(self.labels) if label not in skip]

    def _view(self, index: int, position: int, seed: int) -> torch.Tensor:
        group, label = self.groups[index], self.labels[index]
        for k in range(len(group)):
            tensor, got = self.images[(group[(position + k) % len(group)], seed)]
            if got == label:
                return tensor
        raise ImageLoadError(f"{self.images.root}: identity {label}: none of its {len(group)} images is "
                             f"readable (listed in {self.images.bad_log})")

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        index, seed = key if isinstance(key, tuple) else (key, 0)
        a, b = pick_pair(len(self.groups[index]), np.random.default_rng([seed, 0]))
        views = [self._view(index, a, view_seed(seed, 1)), self._view(index, b, view_seed(seed, 2))]
        return torch.stack(views), self.labels[index]
