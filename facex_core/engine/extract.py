"""Batched feature extraction with fused flip TTA and a resumable on-disk cache."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..data.datasets import Preprocess, load_image, preprocess_of
from ..errors import NonFiniteError
from ..runtime.distributed import world_rank
from ..runtime.files import atomic_output
from ..runtime.progress import Progress

CHUNK = 2048  #: Images per cache chunk: a killed extraction loses at most this much work.


class ImageListDataset(Dataset):
    """Aligned crops listed by relative path; yields (tensor, position)."""

    def __init__(self, root: str | os.PathLike, paths: Sequence[str], input_size: tuple[int, int],
                 preprocess: Preprocess | None = None) -> None:
        self.root, self.paths, self.input_size = Path(root), list(paths), tuple(input_size)
        self.preprocess = preprocess or Preprocess()

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.preprocess(load_image(self.root / self.paths[i]), self.input_size), i


def _save_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_output(path) as fh:
        np.save(fh, arr)


@torch.no_grad()
def embed_batch(model: torch.nn.Module, images: torch.Tensor, flip: str) -> torch.Tensor:
    """Raw embeddings of a batch; ``flip='sum'`` adds the mirrored image's, ``'concat'`` appends it."""
    feats = model(images).float()
    if flip == "none":
        return feats
    flipped = model(torch.flip(images, dims=[3])).float()
    return feats + flipped if flip == "sum" else torch.cat([feats, flipped], dim=1)


def cache_key(*parts: str) -> str:
    """Short stable hash naming a cache folder."""
    return hashlib.sha256(b"".join(p.encode() + b"\0" for p in parts)).hexdigest()[:16]


def extract_features(model: torch.nn.Module, image_root: str | os.PathLike, paths: Sequence[str], *,
                     input_size: tuple[int, int] = (112, 112), batch_size: int = 128, flip: str = "sum",
                     device: torch.device | str = "cpu", num_workers: int = 0,
                     cache_dir: str | os.PathLike | None = None, preprocess: Preprocess | None = None,
                     desc: str = "extract") -> dict[str, np.ndarray]:
    """L2-normalised features of ``paths`` (relative to ``image_root``), keyed by path; with ``cache_dir`` written
    in chunks as computed (a killed run resumes there; a finished one is read back without the model).
    Non-finite features raise an error naming the image."""
    paths = list(paths)
    device = torch.device(device)
    cache = Path(cache_dir) if cache_dir is not None else None
    final = cache / "features.npy" if cache else None
    if final is not None and final.exists() and json.loads((cache / "paths.json").read_text()) == paths:
        return dict(zip(paths, np.load(final)))
    model.eval().to(device)
    world, rank = world_rank()  # under torchrun every rank embeds every world-th image of a chunk
    n_chunks = (len(paths) + CHUNK - 1) // CHUNK
    parts: list[np.ndarray] = []
    bar = Progress(len(paths), desc=desc, unit="img")
    bar.disabled = bar.disabled or rank != 0
    for c in range(n_chunks):
        chunk_paths = paths[c * CHUNK:(c + 1) * CHUNK]
        chunk_file = cache / f"chunk_{c:05d}.npy" if cache else None
        if chunk_file is not None and chunk_file.exists():
            parts.append(np.load(chunk_file))
            bar.update(len(chunk_paths))
            continue
        mine = list(range(rank, len(chunk_paths), world))
        ds = ImageListDataset(image_root, [chunk_paths[i] for i in mine], input_size, preprocess)
        loader = DataLoader(ds, batch_size=batch_size, num_workers=num_workers, pin_memory=device.type == "cuda")
        rows: list[np.ndarray] = []
        for images, idx in loader:
            f = embed_batch(model, images.to(device, non_blocking=True), flip)
            bad = ~torch.isfinite(f).all(dim=1)
            if bool(bad.any()):
                first = mine[int(idx[bad.nonzero()[0, 0]])]
                raise NonFiniteError(f"{Path(image_root) / chunk_paths[first]}: the model produced a non-finite feature "
                                     "(are its weights NaN? check the checkpoint)")
            rows.append(torch.nn.functional.normalize(f, dim=1).cpu().numpy())
            bar.update(len(idx) * world)
        local = np.concatenate(rows) if rows else np.empty((0, 0), np.float32)
        if world > 1:
            import torch.distributed as dist

            gathered: list = [None] * world
            dist.all_gather_object(gathered, local)
            dim = max((g.shape[1] for g in gathered if g.size), default=0)
            out = np.empty((len(chunk_paths), dim), np.float32)
            for r, g in enumerate(gathered):  # back in image order
                if g.size:
                    out[r::world] = g
        else:
            out = local
        if chunk_file is not None and rank == 0:
            cache.mkdir(parents=True, exist_ok=True)
            _save_npy(chunk_file, out)
        parts.append(out)
    bar.close()
    feats = np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
    if cache is not None and rank == 0:
        cache.mkdir(parents=True, exist_ok=True)
        (cache / "paths.json").write_text(json.dumps(paths))
        _save_npy(final, feats)
        for c in range(n_chunks):
            (cache / f"chunk_{c:05d}.npy").unlink(missing_ok=True)
    return dict(zip(paths, feats))


def validate_online(exp: Any, backbone: torch.nn.Module) -> tuple[str, float]:
    """Primary metric of the first configured protocol for the backbone being trained (no cache)."""
    if not exp.protocols:
        raise ValueError("training.loop.validate_every needs at least one [[evaluation.protocols]] entry")
    name, protocol = exp.build_protocols()[0]
    ev = exp.evaluation
    feats = extract_features(backbone, protocol.image_root, protocol.images(), input_size=backbone.input_size,
                             batch_size=ev.batch_size, flip=ev.flip, device=exp.device, num_workers=0,
                             preprocess=preprocess_of(exp.data), desc=f"validate {name}")
    result = protocol.evaluate(feats)
    return f"{name}/{result.primary}", float(result.metrics[result.primary])
