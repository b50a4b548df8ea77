"""Reading a source model file without running any of its code.

PyTorch files (FaceX-Zoo ``Epoch_N.pt``, arcface_torch ``backbone.pth`` / ``checkpoint_gpu_N.pt``) are
read with ``torch.load(weights_only=True)``: tensors and plain containers only, never a pickled class
or function. ONNX files are parsed as protobuf (``onnx``), which holds no code. Every way a file can
be unreadable is one :class:`facex_core.DataError` naming the file.
"""
from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from facex_core import CHECKPOINT_FORMAT, DataError

#: Formats a source file can be in.
TORCH, ONNX = "torch", "onnx"
#: Containers of a state dict inside a PyTorch file: FaceX-Zoo's ``train.py`` (``state_dict``, with
#: ``epoch`` and ``batch_id``), arcface_torch's resume checkpoints (``state_dict_backbone``) and
#: others' common habits.
CONTAINER_KEYS = ("state_dict", "state_dict_backbone", "model_state_dict", "model")


@dataclass
class Source:
    """A source model file: its identity and, depending on the format, its tensors or its graph."""

    path: Path
    sha256: str
    format: str
    #: ``{name: tensor}`` of a PyTorch file (the state dict, container unwrapped).
    state: dict[str, torch.Tensor] = field(default_factory=dict)
    #: Scalars stored beside the state dict (FaceX-Zoo: ``epoch``, ``batch_id``) and the container key.
    meta: dict[str, Any] = field(default_factory=dict)
    #: The parsed ``onnx.ModelProto`` of an ONNX file.
    onnx_model: Any = None

    @property
    def name(self) -> str:
        return self.path.name

    def record(self) -> dict[str, Any]:
        """What the imported checkpoint records about its source."""
        out: dict[str, Any] = {"file": self.path.name, "sha256": self.sha256, "format": self.format,
                               "size_bytes": self.path.stat().st_size}
        out.update({k: v for k, v in self.meta.items() if isinstance(v, (int, float, str, bool))})
        return out


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def detect_format(path: Path) -> str:
    """``torch`` for PyTorch's zip or legacy pickle files, ``onnx`` for ``.onnx`` or anything else."""
    if path.suffix.lower() == ".onnx":
        return ONNX
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head[:2] == b"PK" or head[:1] == b"\x80":
        return TORCH
    return ONNX


def read_source(path: str | os.PathLike) -> Source:
    """Read ``path``: a PyTorch state dict (or a checkpoint holding one) or an ONNX model."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file")
    if p.is_dir():
        raise DataError(f"{p}: is a folder; give the model file (e.g. Epoch_17.pt, backbone.pth, model.onnx)")
    if p.stat().st_size == 0:
        raise DataError(f"{p}: empty file")
    fmt = detect_format(p)
    source = Source(path=p, sha256=sha256_of(p), format=fmt)
    if fmt == TORCH:
        source.state, source.meta = _read_torch(p)
    else:
        source.onnx_model = _read_onnx(p)
    return source


def _read_torch(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        named = [line.strip() for line in str(exc).splitlines() if "GLOBAL" in line][:1]
        if named:
            raise DataError(
                f"{path}: refused: the file pickles code ({named[0]}), e.g. a whole model saved with "
                "torch.save(model) such as FaceX-Zoo's SDK .pkl files; FaceX never unpickles code. Save its "
                "weights with the source's own code (torch.save(model.state_dict(), 'weights.pt')) and import "
                "that") from None
        raise DataError(f"{path}: not a readable PyTorch file (truncated, or another kind of file)") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError) as exc:
        raise DataError(f"{path}: not a readable PyTorch file: truncated (an interrupted copy?) or another kind "
                        f"of file ({type(exc).__name__})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: holds a {type(obj).__name__}, not a state dict")
    if obj.get("format") == CHECKPOINT_FORMAT:
        raise DataError(f"{path}: is already a FaceX checkpoint; use it directly")
    meta: dict[str, Any] = {}
    state: Any = obj
    # a checkpoint holding the state dict: a known container key first, else its one dict of tensors
    nested = [k for k, v in obj.items() if isinstance(v, dict) and v and all(isinstance(t, torch.Tensor)
                                                                            for t in v.values())]
    known = [k for k in CONTAINER_KEYS if k in nested]
    if not all(isinstance(v, torch.Tensor) for v in obj.values()) and (known or len(nested) == 1):
        key = (known or nested)[0]
        state = obj[key]
        meta = {k: v for k, v in obj.items() if k != key and isinstance(v, (int, float, str, bool))}
        meta["container"] = key
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors or len(tensors) < len(state):
        keys = ", ".join(sorted(map(str, obj))[:8])
        raise DataError(f"{path}: no state dict found (top-level keys: {keys}); expected a model's "
                        "state_dict() or a checkpoint holding one under 'state_dict'")
    return {str(k): v for k, v in tensors.items()}, meta


def _read_onnx(path: Path) -> Any:
    try:
        import onnx
    except ImportError:
        raise DataError(f"{path}: reading ONNX models needs the onnx package (pip install 'facex-import[onnx]')") \
            from None
    try:
        model = onnx.load(str(path), load_external_data=True)
    except Exception as exc:  # noqa: BLE001 - protobuf raises several unrelated types for a bad file
        raise DataError(f"{path}: not a readable ONNX model ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0][:120] if str(exc) else ''})") from None
    if not len(model.graph.node):
        raise DataError(f"{path}: not an ONNX model (no graph nodes)")
    return model
