"""The images of a data set to mask, and the seed each one is masked with.

Inputs are recognised like ``data pack``: an image folder (one sub-folder per identity), a FaceX-Zoo
train list under an image root (or a list file alone: paths relative to its folder), or an InsightFace
``train.rec``/``.idx``/``property`` folder. Every image has a key: its relative path, or for
RecordIO its record key.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from facex_core import load_image
from facex_data_recordio.recordio import RecordReader, image_keys, read_property, record_label, unpack_record


def image_seed(seed: int, key: str) -> int:
    """Seed of one image: a hash of the base seed and its relative path (or record key).

    Independent of worker count, processing order and which images a resumed run skips.
    """
    digest = hashlib.blake2b(f"{seed}\0{key}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFF_FFFF


class MaskSource:
    """The images of a data set to mask, read by index (picklable, so workers can share it).

    ``kind`` is ``image_folder``, ``train_list`` or ``recordio``; ``keys`` and ``labels`` are in input
    order; ``root`` is the image root (RecordIO: the folder of ``train.rec``).
    """

    def __init__(self, src: str | os.PathLike, train_list: str | os.PathLike | None = None) -> None:
        src = Path(src)
        self.reader = None
        self.property: tuple[int, int, int] | None = None
        if not train_list and ((src / "train.rec").is_file() or src.suffix == ".rec"):
            self.kind = "recordio"
            self.root = src if src.is_dir() else src.parent
            self.reader = RecordReader(self.root / "train.rec", self.root / "train.idx")
            keys = image_keys(self.reader)
            self.keys = [str(k) for k in keys]
            self.labels = [record_label(self.reader.read_header(k)) for k in keys]
            if (self.root / "property").is_file():
                self.property = read_property(self.root / "property")
        else:
            from facex_core import source_samples  # imports torch: here, not in the workers that unpickle this

            if not src.exists():
                raise FileNotFoundError(f"{src}: no such image folder, train list or .rec folder")
            self.kind = "train_list" if (train_list or src.is_file()) else "image_folder"
            self.root, samples = source_samples(src, train_list)
            self.keys = [rel for rel, _ in samples]
            self.labels = [label for _, label in samples]

    def __len__(self) -> int:
        return len(self.keys)

    def path(self, i: int) -> Path:
        """File of image ``i`` (image folders and train lists)."""
        return self.root / self.keys[i]

    def record(self, i: int) -> tuple[Any, bytes]:
        """(header, encoded image) of RecordIO image ``i``."""
        assert self.reader is not None
        return unpack_record(self.reader.read(int(self.keys[i])))

    def read(self, i: int) -> tuple[np.ndarray | None, str | None]:
        """(BGR image, None) or (None, error naming the file or record)."""
        import cv2

        try:
            if self.reader is None:
                return load_image(self.path(i)), None
            _, data = self.record(i)
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
            if img is None:
                return None, f"{self.root / 'train.rec'}: record {self.keys[i]} is not a decodable image"
            return img, None
        except Exception as exc:  # noqa: BLE001 - one bad image never stops the run
            return None, str(exc) if self.reader is None else f"{self.root}: record {self.keys[i]}: {exc}"
