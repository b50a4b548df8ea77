"""`facex-core data inspect`: summarise a training set (counts, images per identity, sizes, unreadable images)."""
from __future__ import annotations

import collections
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..interfaces.data_format import DataFormat
from .datasets import source_samples
from .image import load_image


def inspect(path: str | os.PathLike, check: bool = False, root: str | os.PathLike | None = None,
            data_format: tuple[str, DataFormat] | None = None) -> dict[str, Any]:
    """Counts, images-per-identity histogram, image sizes (of the first 200 images, or all with ``check``)
    and unreadable images of an image folder, a train list (``root``: the folder its paths are relative to)
    or a set in a plugin's ``(name, format)``."""
    path = Path(path)
    kind, fmt = data_format or ("train_list" if path.is_file() else "image_folder", None)
    if fmt is None:
        root, samples = source_samples(root or path, path if root else None)
    else:
        samples = fmt.samples(path)

    def read(key: str) -> np.ndarray:
        return load_image(root / key) if fmt is None else fmt.read(path, key)
    sizes: collections.Counter = collections.Counter()
    bad: list[str] = []
    to_decode = samples if check else samples[:200]
    for key, _ in to_decode:
        try:
            img = read(key)
            sizes[f"{img.shape[0]}x{img.shape[1]}"] += 1
        except Exception as exc:  # noqa: BLE001 - every unreadable image is reported, none is fatal
            bad.append(str(exc))
    per_id = collections.Counter(label for _, label in samples)
    counts = np.array(list(per_id.values()), dtype=int)
    edges = [1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 10**9]
    hist = {f"{lo}-{hi - 1}" if hi < 10**9 else f"{lo}+": n for lo, hi in zip(edges[:-1], edges[1:])
            if (n := int(((counts >= lo) & (counts < hi)).sum()))}
    declared = fmt.num_classes(path) if fmt is not None else 0
    return {"format": kind, "images": len(samples), "identities": len(per_id),
            "images_per_identity": {"min": int(counts.min()) if counts.size else 0,
                                    "median": float(np.median(counts)) if counts.size else 0,
                                    "max": int(counts.max()) if counts.size else 0, "histogram": hist},
            "image_sizes": dict(sizes), "checked": len(to_decode), "unreadable": bad,
            **({"declared_classes": declared} if declared else {})}
