"""The SDK's inputs: the files a command is given, read and run through the pipeline in batches.

Batches never stop at a bad file: every input gets an :class:`Item`, with ``error`` set for unreadable
or non-image files and ``faces == []`` when no face is found.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from .pipeline import SdkSetup


def collect_files(paths: Iterable[str]) -> tuple[list[Path], bool]:
    """Files given, plus every non-hidden file under given folders (sorted, recursive).

    Paths that do not exist are kept so they get an error result. Returns (files, any folder given).
    """
    files: list[Path] = []
    folder = False
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            folder = True
            files.extend(sorted(f for f in p.rglob("*") if f.is_file()
                                and not any(part.startswith(".") for part in f.relative_to(p).parts)))
        else:
            files.append(p)
    return files, folder


def read_image(path: Path) -> tuple[Any, str | None]:
    """``(image, None)``, or ``(None, error)`` naming the file: one bad file is its own result, never an
    exception that would stop a batch."""
    from facex_core import ImageLoadError, load_image

    if not path.exists():
        return None, f"{path}: no such file or directory"
    if path.is_dir():
        return None, f"{path}: is a directory"
    try:
        return load_image(path), None
    except ImageLoadError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - e.g. a decoder crash on a malformed file
        return None, f"{path}: cannot decode ({type(exc).__name__}: {exc})"


class Item:
    """One input file and what the stages made of it."""

    def __init__(self, path: Path, image: Any = None, error: str | None = None) -> None:
        self.path = path
        self.image = image
        self.error = error
        self.faces: list[Any] = []


def finite_embeddings(faces: Sequence[Any]) -> bool:
    """Whether every embedding of ``faces`` is finite (NaN weights must not pass as "different people")."""
    import numpy as np

    return all(f.embedding is None or np.isfinite(f.embedding).all() for f in faces)


def process(setup: SdkSetup, files: Sequence[Path], *, align: bool = False, embed: bool = False,
            command: str, progress: bool = False) -> Iterator[Item]:
    """Read and run ``files`` in batches; yield one :class:`Item` per file in order, errors included.

    A batch that fails in a stage is rerun image by image so the error lands on the right file.
    """
    from facex_core import Progress

    pipeline = setup.pipeline(align=align, embed=embed, command=command)
    bar = Progress(len(files), desc=command, unit="img") if progress else None
    size = setup.settings.batch_size
    for start in range(0, len(files), size):
        items = [Item(p, *read_image(p)) for p in files[start:start + size]]
        ok = [it for it in items if it.error is None]
        if ok:
            try:
                for it, faces in zip(ok, pipeline([it.image for it in ok], align=align, embed=embed)):
                    it.faces = faces
            except Exception:  # noqa: BLE001 - isolate the failing image
                for it in ok:
                    try:
                        it.faces = pipeline([it.image], align=align, embed=embed)[0]
                    except Exception as exc:  # noqa: BLE001
                        it.error = f"{it.path}: {command} failed ({type(exc).__name__}: {exc})"
                        it.faces = []
        for it in ok:
            if embed and not it.error and not finite_embeddings(it.faces):
                # NaN weights must not pass as "different people" or as NaN rows in an .npz
                it.error = f"{it.path}: the recognizer produced a non-finite embedding (NaN weights?)"
                it.faces = []
        for it in items:
            yield it
            if bar is not None:
                bar.update(1)
            it.image = None  # free the pixels once the consumer is done with them
    if bar is not None:
        bar.close()
