"""Test double of a plugin's data format ``stack``: a data set stored as ``images.npy`` (N×H×W×3 BGR uint8) and
``labels.npy``, with an optional ``classes.txt`` declaring the class count; an all-zero image is "undecodable"."""
from __future__ import annotations

from pathlib import Path

import numpy as np

import facex_core


def write_stack(train_list: Path, image_root: Path, out: Path, classes: int = 0) -> None:
    """The images of a train list as a ``stack`` data set in ``out`` (same order, same labels)."""
    samples = facex_core.read_train_list(train_list)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "images.npy", np.stack([facex_core.load_image(image_root / rel) for rel, _ in samples]))
    np.save(out / "labels.npy", np.array([label for _, label in samples]))
    if classes:
        (out / "classes.txt").write_text(str(classes))


class StackFormat(facex_core.DataFormat):
    def exists(self, root):
        return (Path(root) / "images.npy").is_file()

    def samples(self, root):
        if not self.exists(root):
            raise facex_core.DataError(f"{root}: no images.npy")
        return [(str(i), int(label)) for i, label in enumerate(np.load(Path(root) / "labels.npy"))]

    def read(self, root, key):
        img = np.array(np.load(Path(root) / "images.npy", mmap_mode="r")[int(key)])
        if not img.any():
            raise facex_core.ImageLoadError(f"{root}/images.npy: image {key} is blank")
        return img

    def num_classes(self, root):
        path = Path(root) / "classes.txt"
        return int(path.read_text()) if path.exists() else 0
