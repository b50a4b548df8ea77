"""FaceX SDK application: ``facex-core sdk ...`` and ``facex-core data align`` (see README.md).

The Python names other applications reuse: :class:`SdkSetup` (an SDK config resolved into stages, a
:class:`facex_core.Pipeline` and a decision threshold), :func:`collect_files` and :func:`process`
(files run through the stages in batches, one result per file). Light to import (no torch, no cv2).
"""
from .inputs import Item, collect_files, process
from .pipeline import SdkSetup

__all__ = ["Item", "SdkSetup", "collect_files", "process"]
