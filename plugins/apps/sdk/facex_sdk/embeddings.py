"""Labelled face embeddings for galleries: from identity folders (``identity/*.jpg``, one face per
image) or from the ``.npz`` that ``sdk embed`` writes (the identity of a row is its image's folder)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from facex_core import ConfigError, DataError

from .inputs import collect_files
from .identity import pipeline_mismatch

if TYPE_CHECKING:
    from .analyzer import FaceAnalyzer


def unit(vector: Any) -> np.ndarray:
    """``vector`` scaled to length 1 (float64), so dot products are cosine similarities."""
    v = np.asarray(vector, dtype=np.float64)
    return v / max(1e-12, float(np.linalg.norm(v)))


def folder_embeddings(analyzer: "FaceAnalyzer", root: Path, command: str,
                      aligned: bool = False) -> tuple[list[str], list[np.ndarray]]:
    """One embedding per usable image of ``root/<identity>/...`` (the face ``[sdk] face`` picks; with
    ``aligned`` the whole image, an aligned crop), with its identity; unusable images and empty
    identities are reported on stderr and left out."""
    from facex_core import pick_face

    identities = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not identities:
        raise ConfigError(f"{root}: no identity sub-folders (one sub-folder of images per identity)")
    files: list[Path] = []
    owner: list[str] = []
    for ident in identities:
        found, _ = collect_files([str(ident)])
        files.extend(found)
        owner.extend([ident.name] * len(found))
    names: list[str] = []
    vectors: list[np.ndarray] = []
    items = (analyzer.process_crops(files) if aligned else
             analyzer.process(files, embed=True, command=f"{command} gallery", progress=len(files) > 1))
    for it, name in zip(items, owner):
        face = None if it.error else pick_face(it.faces, analyzer.setup.settings.face)
        if face is None:
            print(json.dumps({"file": str(it.path), "error": it.error or f"{it.path}: no face found"}),
                  file=sys.stderr)
            continue
        names.append(name)
        vectors.append(np.asarray(face.embedding, dtype=np.float32))
    for ident in identities:
        if ident.name not in names:
            print(f"facex-core sdk {command}: warning: {ident.name}: no usable face, left out of the gallery",
                  file=sys.stderr)
    return names, vectors


def embed_file_embeddings(path: Path, face: str) -> tuple[list[str], np.ndarray, dict[str, Any] | None]:
    """``(identities, embeddings, pipeline)`` of an ``sdk embed`` file: per image the face ``face``
    picks (``largest``/``best``), named by the image's folder; ``pipeline`` as recorded (or None)."""
    from facex_core import Face, pick_face

    try:
        with np.load(path, allow_pickle=False) as data:
            rows = {k: data[k] for k in ("embeddings", "names", "boxes", "scores")}
            recorded = json.loads(str(data["pipeline"])) if "pipeline" in data.files else None
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found") from None
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path}: not an `sdk embed` file (embeddings, names, boxes, scores): {exc}") from None
    by_image: dict[str, list[Any]] = {}
    for i, image in enumerate(rows["names"]):
        by_image.setdefault(str(image), []).append(Face(box=rows["boxes"][i], score=float(rows["scores"][i]),
                                                        embedding=rows["embeddings"][i]))
    chosen = {image: pick_face(faces, face) for image, faces in by_image.items()}
    names = [Path(image).parent.name for image in chosen]
    return names, np.array([f.embedding for f in chosen.values()], dtype=np.float32), recorded


def labelled_embeddings(analyzer: "FaceAnalyzer", sources: Sequence[Path], command: str,
                        aligned: bool = False) -> tuple[list[str], np.ndarray]:
    """Identities and embeddings of folders and ``sdk embed`` files, checked to come from ``analyzer``'s
    pipeline (a file without a record is taken as made by it, with a warning); ``aligned``: the folders
    hold aligned crops and only the aligner and recognizer are built and compared."""
    names: list[str] = []
    vectors: list[np.ndarray] = []
    for source in sources:
        if not source.exists():
            raise ConfigError(f"{source}: not found (a folder of identity sub-folders, or an `sdk embed` .npz)")
        if source.is_dir():
            found, rows = folder_embeddings(analyzer, source, command, aligned)
        elif source.suffix == ".npz":
            found, array, recorded = embed_file_embeddings(source, analyzer.setup.settings.face)
            if recorded is None:
                print(f"facex-core sdk {command}: warning: {source} does not record its pipeline (written by an "
                      f"older `sdk embed`): taken as made by the configured one", file=sys.stderr)
            else:
                problem = pipeline_mismatch(recorded, analyzer.identity(aligned=aligned))
                if problem:
                    raise ConfigError(f"{source}: {problem}: use the pipeline it was embedded with "
                                      f"(--config/--set), or embed the images again")
            rows = list(array)
        else:
            raise ConfigError(f"{source}: expected a folder of identity sub-folders or an `sdk embed` .npz file")
        names.extend(found)
        vectors.extend(rows)
    if not vectors:
        raise ConfigError(f"{', '.join(map(str, sources))}: no usable gallery face")
    return names, np.stack(vectors)
