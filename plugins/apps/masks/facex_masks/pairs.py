"""One-side-masked verification pairs: an LFW-format pairs set whose second image of every pair is masked.

The first image of each pair comes from the unmasked images, the second from their masked copy (as
``data mask`` writes it: same relative paths) under a new number (:data:`MASKED_IMAGE_OFFSET` + its
own), so the LFW protocol runs unchanged on the result.
"""
from __future__ import annotations

import os
from pathlib import Path

from facex_core import FolderLock, LfwPair, read_lfw_pairs, write_lfw_pairs

from .output import put_original

#: In a one-side-masked LFW set, the masked copy of image ``k`` of a person is image ``k + 1000``.
MASKED_IMAGE_OFFSET = 1000
PAIRS_NAME = "pairs.txt"
IMAGES_DIR = "images"


def one_side_masked_pairs(pairs_file: str | os.PathLike, image_root: str | os.PathLike,
                          masked_root: str | os.PathLike, out_dir: str | os.PathLike) -> dict[str, str]:
    """An LFW-format pairs set whose second image of every pair wears a mask.

    Reads ``pairs_file`` (:func:`facex_core.read_lfw_pairs`), links each pair's first image from
    ``image_root`` and its second from ``masked_root`` (same relative paths, as ``data mask`` writes
    them) as image ``j + 1000`` under ``out_dir/images``, and writes ``out_dir/pairs.txt``: the same
    pairs and header. Images already there are kept, so a rerun only completes the set.
    """
    image_root, masked_root, out = Path(image_root), Path(masked_root), Path(out_dir)
    header, pairs = read_lfw_pairs(pairs_file)
    too_big = [p for p in pairs if max(p.i1, p.i2) >= MASKED_IMAGE_OFFSET]
    if too_big:
        raise ValueError(f"{pairs_file}: image numbers must be below {MASKED_IMAGE_OFFSET}, got {too_big[0].line()!r}")
    masked_pairs = [LfwPair(p.name1, p.i1, p.name2, p.i2 + MASKED_IMAGE_OFFSET, p.same) for p in pairs]
    with FolderLock(out, "one-side-masked pairs"):
        images = out / IMAGES_DIR
        for pair, masked in zip(pairs, masked_pairs):
            sides = ((image_root, pair.first, masked.first), (masked_root, pair.second, masked.second))
            for root, rel, target in sides:
                if (images / target).exists():
                    continue
                if not (root / rel).is_file():
                    raise FileNotFoundError(f"{root / rel}: image of pair {pair.line()!r} in {pairs_file} not found")
                put_original(images, target, root / rel)
        write_lfw_pairs(out / PAIRS_NAME, masked_pairs, header)
    return {"pairs_file": str(out / PAIRS_NAME), "image_root": str(images)}
