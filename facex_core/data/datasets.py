"""Training data in FaceX-Zoo's formats, a train list (``relative/path label``) or an image folder, and in any
plugin's :class:`facex_core.DataFormat`."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterator, Sequence

import attrs
import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from .augment import AugmentConfig, augment
from .image import ImageLoadError, load_image  # noqa: F401 - re-exported for the engines
from ..configs.options import config, option
from ..errors import ConfigError, DataError
from ..interfaces.data_format import DataFormat
from ..runtime.files import write_atomic

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
CORE_FORMATS = ("train_list", "image_folder")  #: ``[data] format`` values the core reads itself


@attrs.frozen
class Preprocess:
    """A model's input convention (FaceX-Zoo: BGR, ``(x - 127.5) / 128``; InsightFace: RGB, ``(x - 127.5) / 127.5``)
    and ``crop_eye``, the top 60 rows of a 112×112 crop (the upper-half-face setting)."""

    crop_eye: bool = False
    channels: str = "BGR"
    mean: float = 127.5
    std: float = 128.0

    def __call__(self, img: np.ndarray, size: tuple[int, int] | None) -> torch.Tensor:
        """``img`` (H×W×3 BGR uint8) as a 3×h×w float tensor (resized bilinearly to ``size`` unless ``crop_eye``)."""
        if self.crop_eye:
            img = (img if img.shape[0] == 112 else cv2.resize(img, (112, 112), interpolation=cv2.INTER_LINEAR))[:60]
        elif size is not None and img.shape[:2] != tuple(size):
            img = cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
        arr = (img[:, :, ::-1] if self.channels == "RGB" else img).astype(np.float32)
        return torch.from_numpy(np.ascontiguousarray(((arr - self.mean) / self.std).transpose(2, 0, 1)))


def to_tensor(img: np.ndarray, size: tuple[int, int] | None = None, crop_eye: bool = False) -> torch.Tensor:
    """BGR uint8 image → 3×H×W tensor in FaceX-Zoo's convention (:class:`Preprocess` for any other)."""
    return Preprocess(crop_eye=crop_eye)(img, size)


def check_relative(rel: str, where: str) -> str:
    """``rel`` if it is a relative path that stays inside its root, else a :class:`DataError` naming ``where``."""
    parts = rel.replace("\\", "/").split("/")
    if rel.startswith(("/", "\\")) or (len(rel) > 1 and rel[1] == ":") or ".." in parts:
        raise DataError(f"{where}: path {rel!r} leaves the image folder (absolute or '..'); "
                        "paths must be relative to the folder the list belongs to")
    return rel


def read_train_list(path: str | os.PathLike) -> list[tuple[str, int]]:
    """Parse a FaceX-Zoo training list: one ``relative/path label`` per line (blank lines ignored)."""
    samples = []
    try:
        with open(path, encoding="utf-8") as fh:
            lines = list(fh)
    except FileNotFoundError:
        raise DataError(f"{path}: training list not found") from None
    except (IsADirectoryError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a text training list ({type(exc).__name__})") from None
    for lineno, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        rel, sep, label = line.rpartition(" ")
        if not sep or not rel:
            raise DataError(f"{path}:{lineno}: expected 'relative/path label', got {line!r}")
        try:
            lab = int(label)
        except ValueError:
            raise DataError(f"{path}:{lineno}: label {label!r} is not an integer") from None
        if lab < 0:
            raise DataError(f"{path}:{lineno}: negative label {lab}")
        samples.append((check_relative(rel.strip(), f"{path}:{lineno}"), lab))
    if not samples:
        raise DataError(f"{path}: training list is empty")
    return samples


def count_classes(samples: Sequence[tuple[str, int]], source: str) -> int:
    """The number of classes (largest label + 1), refusing large label gaps (a stray huge label would
    size the classifier for it: gigabytes of class centres that never train)."""
    labels = {label for _, label in samples}
    num_classes = max(labels) + 1
    missing = num_classes - len(labels)
    if missing > max(10, len(labels) // 10):
        raise DataError(f"{source}: labels run up to {num_classes - 1} but only {len(labels)} identities have "
                        f"images ({missing} labels unused): number identities 0..N-1 (e.g. `facex-core data list`)")
    return num_classes


def scan_image_folder(root: str | os.PathLike) -> list[tuple[str, int]]:
    """One sub-folder per identity → (relative path, label); labels follow sorted folder names."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: image folder not found")
    ids = sorted(p.name for p in root.iterdir() if p.is_dir())
    samples = [(f"{ident}/{f.name}", label) for label, ident in enumerate(ids)
               for f in sorted((root / ident).iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not samples:
        raise DataError(f"{root}: no images found in identity sub-folders")
    return samples


def source_samples(src: str | os.PathLike, train_list: str | os.PathLike | None = None) -> tuple[Path, list[tuple[str, int]]]:
    """(image root, samples) from an image folder, or from a FaceX-Zoo list under ``src``."""
    src = Path(src)
    if train_list:
        return src, read_train_list(train_list)
    if src.is_file():
        return src.parent, read_train_list(src)
    return src, scan_image_folder(src)


def write_train_list(src: str | os.PathLike, out: str | os.PathLike) -> int:
    """Image folder → FaceX-Zoo training list; returns the count (names that would not read back are refused)."""
    samples = scan_image_folder(src)
    bad = [rel for rel, _ in samples if "\n" in rel or "\r" in rel or rel != rel.strip()]
    if bad:
        raise DataError(f"{Path(src) / bad[0]!r}: a file name with a line break or edge spaces cannot go in a "
                        f"train list ({len(bad)} such files); rename them")
    write_atomic(out, "".join(f"{rel} {label}\n" for rel, label in samples))
    return len(samples)


@config
class DataConfig:
    """The ``[data]`` table of an experiment: where training images are and how to read them."""

    format: str = option("train_list", doc="'train_list' (FaceX-Zoo list file), 'image_folder' (one folder per "
                                           "identity) or an installed data_format plugin's name (data in root).")
    root: str = option(doc="Folder the image paths are relative to (the data set's folder for a plugin format).")
    train_list: str = option("", doc="The list file (format 'train_list' only).")
    num_workers: int = option(2, doc="DataLoader worker processes.", ge=0)
    flip: bool = option(True, doc="Random horizontal flip with p=0.5 (FaceX-Zoo's only augmentation).")
    crop_eye: bool = option(False, doc="Train on the top 60 rows (upper-half face).")
    channels: str = option("BGR", doc="Channel order the network takes: 'BGR' (FaceX-Zoo) or 'RGB' (InsightFace).",
                           choices=("BGR", "RGB"))
    mean: float = option(127.5, doc="Subtracted from every pixel (FaceX-Zoo, InsightFace: 127.5).", ge=0, le=255)
    std: float = option(128.0, doc="Divisor after the mean (FaceX-Zoo: 128; InsightFace: 127.5).", gt=0)
    augment: AugmentConfig = option(factory=AugmentConfig, doc="Further augmentation ([data.augment]); off by default.")
    max_bad_images: int = option(0, doc="Unreadable training images to skip (replaced, logged to bad_images.txt) "
                                        "before the run stops; 0 = stop at the first.", ge=0)


def preprocess_of(cfg: DataConfig | None) -> Preprocess:
    """The :class:`Preprocess` a ``[data]`` table describes (FaceX-Zoo's convention without one)."""
    return Preprocess(crop_eye=cfg.crop_eye, channels=cfg.channels, mean=cfg.mean, std=cfg.std) if cfg else Preprocess()


def read_samples(cfg: DataConfig, data_format: DataFormat | None = None) -> list[tuple[str, int]]:
    """The (relative path, label) list described by a data config (the plugin format's keys with one)."""
    if data_format is not None:
        return data_format.samples(Path(cfg.root))
    if cfg.format == "train_list":
        if not cfg.train_list:
            raise ConfigError("data.train_list: required when data.format = 'train_list'")
        return read_train_list(cfg.train_list)
    return scan_image_folder(cfg.root)


def _sample_seed(seed: int, epoch: int, position: int) -> int:
    digest = hashlib.blake2b(f"{seed}/{epoch}/{position}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFF_FFFF


class FaceImageDataset(Dataset):
    """Aligned face crops with labels, indexed by ``(index, seed)`` so augmentation is reproducible."""

    def __init__(self, root: str | os.PathLike, samples: Sequence[tuple[str, int]],
                 input_size: tuple[int, int] = (112, 112), flip: bool = True, crop_eye: bool = False,
                 augment: AugmentConfig | None = None, bad_log: str | os.PathLike | None = None,
                 preprocess: Preprocess | None = None, data_format: DataFormat | None = None) -> None:
        self.root, self.samples, self.input_size, self.flip = Path(root), list(samples), tuple(input_size), flip
        self.preprocess = preprocess or Preprocess(crop_eye=crop_eye)
        self.augment = augment if augment is not None and augment.active else None
        self.bad_log = Path(bad_log) if bad_log else None
        self.data_format = data_format
        self.num_classes = max(count_classes(self.samples, str(root)),
                               data_format.num_classes(self.root) if data_format is not None else 0)

    def __len__(self) -> int:
        return len(self.samples)

    def read(self, index: int) -> np.ndarray:
        """The decoded image of sample ``index`` (BGR uint8)."""
        key = self.samples[index][0]
        return load_image(self.root / key) if self.data_format is None else self.data_format.read(self.root, key)

    def _read_or_skip(self, index: int, seed: int) -> tuple[np.ndarray, int]:
        """Read sample ``index``; with a bad-image log, an unreadable one is logged and replaced by a
        deterministic other sample (so batch shapes and the epoch's length never change)."""
        for attempt in range(16):
            try:
                return self.read(index), self.samples[index][1]
            except ImageLoadError as exc:
                if self.bad_log is None:
                    raise type(exc)(f"{exc} (set data.max_bad_images = N to skip up to N unreadable training "
                                    "images, listed in bad_images.txt)") from None
                with open(self.bad_log, "a", encoding="utf-8") as fh:  # one short append per line: atomic
                    fh.write(f"{exc}\n")
                index = (index + 1 + _sample_seed(seed, attempt, index) % max(1, len(self) - 1)) % len(self)
        raise ImageLoadError(f"{self.root}: 16 unreadable images in a row; see {self.bad_log}")

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        index, seed = key if isinstance(key, tuple) else (key, 0)
        img, label = self._read_or_skip(index, seed)
        if self.flip and (seed & 1):
            img = img[:, ::-1]
        if self.augment is not None:
            img = augment(img, self.augment, seed)
        return self.preprocess(img, self.input_size), label


class EpochSampler(Sampler):
    """Deterministic per-epoch permutation that can start part-way (bit-exact resume); yields ``(index, seed)``."""

    def __init__(self, size: int, seed: int, epoch: int, start: int = 0, shuffle: bool = True,
                 rank: int = 0, world: int = 1) -> None:
        self.size, self.seed, self.epoch, self.start, self.shuffle = size, seed, epoch, start, shuffle
        self.rank, self.world = rank, world

    def order(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.size))
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.size, generator=g).tolist()

    def __iter__(self) -> Iterator[tuple[int, int]]:
        # rank r takes positions r, r + world, ...: with one process this is the plain order
        order = self.order()
        for i in range(self.start, self.size // self.world):
            pos = i * self.world + self.rank
            yield order[pos], _sample_seed(self.seed, self.epoch, pos)

    def __len__(self) -> int:
        return max(0, self.size // self.world - self.start)

