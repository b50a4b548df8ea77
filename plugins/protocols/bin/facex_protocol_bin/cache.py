"""The image folder a .bin is unpacked into, so the evaluation engine can read it like any other.

The engine reads images by path, so each encoded image of the .bin is written once, byte for byte,
as ``<index>.jpg`` (or ``.png``) in the cache folder, in .bin order. A manifest written last records
the source file's size and modification time, the image names and the labels: while it matches, the
.bin is not even read again, and an interrupted unpack (no manifest) is simply redone.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .binfile import BinFormatError, image_suffix, read_bin

MANIFEST = "facex_bin_manifest.json"
_VERSION = 1


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # readers never see a half-written file


def _signature(path: Path) -> dict:
    st = path.stat()
    return {"source": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _cached(path: Path, folder: Path) -> tuple[list[str], list[bool]] | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("version") != _VERSION or manifest.get("bin") != _signature(path):
        return None
    names, issame = manifest.get("images", []), manifest.get("issame", [])
    if len(names) != 2 * len(issame) or not all((folder / n).is_file() for n in names):
        return None
    return names, [bool(v) for v in issame]


def unpack(path: str | Path, folder: str | Path) -> tuple[list[str], list[bool]]:
    """Image file names (relative to ``folder``, in .bin order) and pair labels, unpacking the
    .bin into ``folder`` unless a matching earlier unpack is there."""
    path, folder = Path(path), Path(folder)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: verification .bin not found")
    cached = _cached(path, folder)
    if cached is not None:
        return cached
    images, issame = read_bin(path)
    names = []
    for i, data in enumerate(images):
        suffix = image_suffix(data)
        if suffix is None:
            raise BinFormatError(f"{path}: image {i} is neither JPEG nor PNG "
                                 f"(starts with {data[:4].hex()})")
        names.append(f"{i}{suffix}")
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in zip(names, images):
        _write_atomic(folder / name, data)
    manifest = {"version": _VERSION, "bin": _signature(path), "images": names, "issame": issame}
    _write_atomic(folder / MANIFEST, json.dumps(manifest).encode())
    return names, issame
