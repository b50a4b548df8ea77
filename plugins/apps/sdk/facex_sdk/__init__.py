"""FaceX SDK: the face SDK as a Python library, and ``facex-core sdk ...`` / ``facex-core data align``.

:class:`FaceAnalyzer` is the library (detect, align, embed, compare, galleries, video; README.md
"Python"); :class:`Gallery` holds identities to search, saved as one file. Faces are
:class:`facex_core.Face`. :class:`SdkSetup`, :func:`collect_files` and :func:`process` are the
machinery the commands share (an SDK config resolved into stages; files run through them in batches,
one :class:`Item` per file). The names below are imported on first use: `facex-core list` imports
this package to register its commands and must stay fast (no numpy, no torch, no cv2).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from facex_core import Face

    from .analyzer import Channels, Comparison, FaceAnalyzer, ImageInput
    from .config import GalleryConfig
    from .gallery import Gallery, Match
    from .inputs import Item, collect_files, process
    from .pipeline import SdkSetup, Threshold
    from .video import VideoFrame, VideoStream

_LAZY = {"Channels": ".analyzer", "Comparison": ".analyzer", "FaceAnalyzer": ".analyzer", "ImageInput": ".analyzer",
         "GalleryConfig": ".config", "Gallery": ".gallery", "Match": ".gallery", "Item": ".inputs",
         "collect_files": ".inputs", "process": ".inputs", "SdkSetup": ".pipeline", "Threshold": ".pipeline",
         "VideoFrame": ".video", "VideoStream": ".video", "Face": "facex_core"}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'facex_sdk' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
