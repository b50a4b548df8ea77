"""FaceX checkpoint files, written atomically and read without unpickling code: a dict ``{"format":
"facex-checkpoint", "version": 1, "config": <resolved experiment config>, "model": <state dict: backbone.* and
head.* keys>, ...}`` plus, for a training run, the optimiser, RNG and loop state that ``--resume`` needs."""
from __future__ import annotations

import os
import pickle
from typing import Any

import torch

from ..errors import DataError
from ..runtime.files import atomic_output

CHECKPOINT_FORMAT = "facex-checkpoint"
CHECKPOINT_VERSION = 1


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Write atomically and durably: a killed process or a crashed machine leaves either the old
    file or the new one, never half of one."""
    os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)
    with atomic_output(path, "wb", fsync=True) as fh:
        torch.save(payload, fh)


def save_backbone_checkpoint(path: str | os.PathLike, config: dict[str, Any], backbone: torch.nn.Module) -> None:
    """A FaceX checkpoint of only ``backbone`` (weights trained elsewhere, or untrained for a smoke test) under the
    resolved experiment ``config``; evaluation, export and the SDK load it like a trained run's checkpoint."""
    save_checkpoint(path, {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": config,
                           "model": {f"backbone.{k}": v for k, v in backbone.state_dict().items()}})


def load_checkpoint(path: str | os.PathLike, mmap: bool = False) -> dict[str, Any]:
    """Load a FaceX checkpoint safely (``weights_only=True``: no arbitrary code is unpickled; ``mmap``: tensors
    mapped, not read); a file that is missing, truncated, not a checkpoint or asks to run code is one
    :class:`DataError`."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such checkpoint file" + (" (a folder)" if os.path.isdir(path) else ""))
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError) as exc:
        named = [line.strip() for line in str(exc).splitlines() if "GLOBAL" in line][:1]
        if named and isinstance(exc, pickle.UnpicklingError):
            raise DataError(f"{path}: refused to load: the file names code to run, which FaceX checkpoints never "
                            f"do ({named[0]}); it was not written by FaceX") from None
        raise DataError(f"{path}: not a readable PyTorch checkpoint: truncated (an interrupted copy?) or "
                        f"another kind of file ({type(exc).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise DataError(f"{path}: not a FaceX checkpoint (no 'format': '{CHECKPOINT_FORMAT}' record)")
    if not isinstance(ckpt.get("config"), dict) or not isinstance(ckpt.get("model"), dict):
        raise DataError(f"{path}: a FaceX checkpoint without its config or weights (damaged file?)")
    return ckpt


def checkpoint_record(path: str | os.PathLike) -> dict[str, Any]:
    """A FaceX checkpoint's record (``config``, ``global_step``, ...) with its tensors memory-mapped, not read;
    ``{}`` for any other file."""
    try:
        return load_checkpoint(path, mmap=True)
    except DataError:
        return {}


def load_backbone_weights(backbone: torch.nn.Module, checkpoint: str | os.PathLike) -> None:
    """Copy the ``backbone.*`` weights of a FaceX checkpoint into ``backbone`` (strict)."""
    ckpt = load_checkpoint(checkpoint)
    state = {k[len("backbone."):]: v for k, v in ckpt["model"].items() if k.startswith("backbone.")}
    if not state:
        raise DataError(f"{checkpoint}: checkpoint holds no backbone weights")
    try:
        backbone.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise DataError(f"{checkpoint}: its backbone weights do not fit the network its config describes: "
                        f"{str(exc).splitlines()[0][:200]}") from None
