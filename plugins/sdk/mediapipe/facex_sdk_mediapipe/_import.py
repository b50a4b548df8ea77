"""Import mediapipe 0.10.21 without its unneeded dependencies, or fail with the install recipe.

``import mediapipe`` imports ``mediapipe.python.solutions.drawing_utils``, which imports
``matplotlib.pyplot`` for plotting helpers FaceX never calls. When matplotlib is not installed a
placeholder stands in for it during that import only: afterwards it is removed from ``sys.modules``
(so ``import matplotlib`` elsewhere still fails normally), while mediapipe's drawing module keeps its
reference and raises :class:`MatplotlibPlaceholderError` if something really uses it.
"""
from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any

MEDIAPIPE_VERSION = "0.10.21"
INSTALL = (f"pip install --no-deps mediapipe=={MEDIAPIPE_VERSION} && "
           "pip install 'protobuf>=4.25.3,<5' absl-py attrs flatbuffers numpy opencv-python-headless")
MISSING_MEDIAPIPE = (
    "facex-sdk-mediapipe needs the `mediapipe` package, which is not installed. Install it without its "
    f"declared dependencies (they pin numpy<2 and pull jax, matplotlib and opencv-contrib): {INSTALL}. "
    f"mediapipe {MEDIAPIPE_VERSION} is the last release that ships the face detection and face mesh models.")
_PLACEHOLDER_DOC = "Placeholder for the missing matplotlib, installed by facex_sdk_mediapipe._import."


class MatplotlibPlaceholderError(ImportError):
    """Raised when mediapipe code touches the stand-in for the missing matplotlib."""


def _placeholder(name: str) -> types.ModuleType:
    module = types.ModuleType(name, _PLACEHOLDER_DOC)
    module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None)

    def __getattr__(attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)  # keeps hasattr() probes by inspect, pickle, pytest harmless
        raise MatplotlibPlaceholderError(
            f"{name}.{attr} was used, but matplotlib is not installed: mediapipe was imported with a "
            "placeholder because FaceX never plots. Install it (`pip install matplotlib`) to use "
            "mediapipe's drawing helpers.")

    module.__getattr__ = __getattr__  # type: ignore[attr-defined]  # module-level __getattr__ (PEP 562)
    return module


def _needs_placeholder() -> bool:
    if "matplotlib.pyplot" in sys.modules:
        return False
    try:
        return importlib.util.find_spec("matplotlib") is None
    except (ImportError, ValueError):
        return True


def _root_cause(exc: BaseException) -> str:
    """The innermost error of a chain: mediapipe's C++ extension reports only "initialization failed"
    and chains the import error that caused it (e.g. a missing ``google.protobuf``)."""
    seen = [exc]
    while True:
        inner = seen[-1].__cause__ or seen[-1].__context__
        if inner is None or inner in seen:
            break
        seen.append(inner)
    shown = seen[:1] + seen[-1:] if len(seen) > 1 else seen
    return ", caused by ".join(f"{type(e).__name__}: {e}" for e in shown)


def import_mediapipe() -> types.ModuleType:
    """The ``mediapipe`` module with its legacy ``solutions`` API; a clear ImportError when unusable."""
    if "mediapipe" in sys.modules and hasattr(sys.modules["mediapipe"], "solutions"):
        return sys.modules["mediapipe"]
    placeholders: dict[str, types.ModuleType] = {}
    if _needs_placeholder():
        package, pyplot = _placeholder("matplotlib"), _placeholder("matplotlib.pyplot")
        package.__path__ = []  # a package, so that "matplotlib.pyplot" resolves as its submodule
        package.pyplot = pyplot  # type: ignore[attr-defined]
        placeholders = {"matplotlib": package, "matplotlib.pyplot": pyplot}
        sys.modules.update(placeholders)
    try:
        try:
            found = importlib.util.find_spec("mediapipe") is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise ImportError(MISSING_MEDIAPIPE)
        try:
            mediapipe = importlib.import_module("mediapipe")
        except ImportError as exc:
            raise ImportError(
                f"mediapipe is installed but cannot be imported ({_root_cause(exc)}). Its run-time "
                f"dependencies are protobuf>=4.25.3,<5, absl-py, attrs, flatbuffers, numpy and OpenCV; "
                f"reinstall with: {INSTALL}") from exc
    finally:
        for name, module in placeholders.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
    if not hasattr(mediapipe, "solutions"):
        raise ImportError(
            f"mediapipe {getattr(mediapipe, '__version__', '?')} has no `mediapipe.solutions` (face detection "
            f"and face mesh were dropped after {MEDIAPIPE_VERSION}). Install the supported release: {INSTALL}")
    return mediapipe
