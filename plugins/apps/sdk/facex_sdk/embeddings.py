"""Faces as embeddings: the one face an image stands for, and a gallery of identities to search."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from facex_core import ConfigError

from .inputs import collect_files, process
from .pipeline import SdkSetup


def unit(vector: Any) -> Any:
    """``vector`` scaled to length 1 (float64), so dot products are cosine similarities."""
    import numpy as np

    v = np.asarray(vector, dtype=np.float64)
    return v / max(1e-12, float(np.linalg.norm(v)))


def one_embedding(setup: SdkSetup, path: Path, command: str) -> tuple[Any, str | None]:
    """``(embedding, None)`` of the face image ``path`` stands for (``[sdk] face``), else ``(None, error)``."""
    from facex_core import pick_face

    (it,) = list(process(setup, [path], embed=True, command=command))
    if it.error:
        return None, it.error
    face = pick_face(it.faces, setup.settings.face)
    if face is None:
        return None, f"{path}: no face found" if not it.faces else f"{path}: no face could be aligned"
    return face.embedding, None


class Gallery:
    """Identities of a folder (one sub-folder of images each), each the normalised mean embedding."""

    def __init__(self, setup: SdkSetup, folder: str, command: str) -> None:
        import numpy as np

        from facex_core import pick_face

        root = Path(folder)
        if not root.is_dir():
            raise ConfigError(f"{root}: gallery folder not found (one sub-folder of images per identity)")
        identities = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not identities:
            raise ConfigError(f"{root}: no identity sub-folders (one sub-folder of images per identity)")
        files: list[Path] = []
        owner: list[int] = []
        for k, ident in enumerate(identities):
            found, _ = collect_files([str(ident)])
            files.extend(found)
            owner.extend([k] * len(found))
        sums: dict[int, Any] = {}
        counts: dict[int, int] = {}
        self.skipped = 0
        for it, k in zip(process(setup, files, embed=True, command=f"{command} gallery",
                                 progress=len(files) > 1), owner):
            face = None if it.error else pick_face(it.faces, setup.settings.face)
            if face is None:
                self.skipped += 1
                print(json.dumps({"file": str(it.path), "error": it.error or f"{it.path}: no face found"}),
                      file=sys.stderr)
                continue
            sums[k] = sums.get(k, 0) + unit(face.embedding)
            counts[k] = counts.get(k, 0) + 1
        for k, ident in enumerate(identities):
            if k not in sums:
                print(f"facex-core sdk {command}: warning: {ident.name}: no usable face, left out of the gallery",
                      file=sys.stderr)
        if not sums:
            raise ConfigError(f"{root}: no usable gallery face")
        keys = sorted(sums)
        self.root = root
        self.names = [identities[k].name for k in keys]
        self.counts = [counts[k] for k in keys]
        self.matrix = np.stack([unit(sums[k]) for k in keys])

    def scores(self, embedding: Any) -> Any:
        """Cosine similarity of ``embedding`` to every identity."""
        return self.matrix @ unit(embedding)
