"""FaceX SDK: the face SDK as a Python library, and ``facex-core sdk ...`` / ``facex-core data align``.

:class:`FaceAnalyzer` is the library (detect, align, embed, compare, galleries, video; README.md
"Python"); :class:`Gallery` holds identities to search, saved as one file. Faces are
:class:`facex_core.Face`. :class:`SdkSetup`, :func:`collect_files` and :func:`process` are the
machinery the commands share (an SDK config resolved into stages; files run through them in batches,
one :class:`Item` per file). Light to import (numpy; no torch, no cv2).
"""
from facex_core import Face

from .analyzer import Channels, Comparison, FaceAnalyzer, ImageInput
from .config import GalleryConfig
from .gallery import Gallery, Match
from .inputs import Item, collect_files, process
from .pipeline import SdkSetup, Threshold
from .video import VideoFrame, VideoStream

__all__ = ["Channels", "Comparison", "Face", "FaceAnalyzer", "Gallery", "GalleryConfig", "ImageInput", "Item",
           "Match", "SdkSetup", "Threshold", "VideoFrame", "VideoStream", "collect_files", "process"]
