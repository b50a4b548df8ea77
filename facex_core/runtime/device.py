"""The one rule for ``device = "auto"`` settings, shared by experiments and SDK stages."""
from __future__ import annotations

from typing import Any


def resolve_device(spec: str = "auto") -> Any:
    """``"auto"`` → CUDA when available, else CPU; anything else (``"cpu"``, ``"cuda:1"``) as given.

    Returns a ``torch.device``; an unknown or unavailable device is a ``ValueError`` naming it.
    """
    import torch

    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as exc:
        raise ValueError(f"device {spec!r}: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {spec!r}: CUDA is not available on this machine (use 'cpu' or 'auto')")
    return device
