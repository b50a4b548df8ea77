"""The ``recordio`` data format: training samples straight from an InsightFace ``train.rec`` folder."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facex_core import DataFormat, ImageLoadError

from .recordio import RecordIOError, RecordReader, image_keys, read_property, record_label, unpack_record


def rec_folder(root: str | Path) -> Path:
    """The folder of a RecordIO set, given the folder or its ``train.rec``."""
    root = Path(root)
    return root.parent if root.suffix == ".rec" else root


class RecordIOFormat(DataFormat):
    """Sample keys are record keys; labels the first value of each image record's label."""

    def __init__(self, config: object) -> None:
        super().__init__(config)
        self._readers: dict[Path, RecordReader] = {}

    def reader(self, root: str | Path) -> RecordReader:
        """The (cached) reader of the set in ``root``; the file itself opens lazily in each process."""
        folder = rec_folder(root)
        if folder not in self._readers:
            self._readers[folder] = RecordReader(folder / "train.rec", folder / "train.idx")
        return self._readers[folder]

    def exists(self, root: Path) -> bool:
        return (rec_folder(root) / "train.rec").is_file()

    def samples(self, root: Path) -> list[tuple[str, int]]:
        reader = self.reader(root)
        return [(str(k), record_label(reader.read_header(k))) for k in image_keys(reader)]

    def read(self, root: Path, key: str) -> np.ndarray:
        reader = self.reader(root)
        try:
            _, data = unpack_record(reader.read(int(key)))
        except RecordIOError as exc:
            raise ImageLoadError(f"record {key}: {exc}") from None
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
        if img is None:
            raise ImageLoadError(f"{reader.rec_path}: record {key} is not a decodable image")
        return img

    def num_classes(self, root: Path) -> int:
        prop = rec_folder(root) / "property"
        return read_property(prop)[0] if prop.exists() else 0
