"""What the dlib components share: where the model files are, BGR → RGB, boxes ↔ dlib rectangles."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np


#: The model files of the face-recognition-models package (Davis King's dlib-models).
MODEL_FILES = {
    "resnet": "dlib_face_recognition_resnet_model_v1.dat",
    "5pt": "shape_predictor_5_face_landmarks.dat",
    "68pt": "shape_predictor_68_face_landmarks.dat",
    "cnn": "mmod_human_face_detector.dat",
}


def packaged_models_dir() -> Path:
    """The ``models`` folder of the installed face-recognition-models package.

    Found through its import spec, without importing it: its ``__init__`` needs ``pkg_resources``,
    which recent setuptools no longer ships.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the face-recognition-models package is not installed: "
                                "pip install 'face-recognition-models>=0.3', or set models_dir to a "
                                "folder holding dlib's .dat files")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def model_path(models_dir: str, key: str) -> Path:
    """Path of model ``key`` (see :data:`MODEL_FILES`); a missing file is an error naming the path."""
    folder = Path(models_dir).expanduser() if models_dir else packaged_models_dir()
    path = folder / MODEL_FILES[key]
    if not path.is_file():
        raise FileNotFoundError(f"models_dir: {path} does not exist (dlib model {MODEL_FILES[key]}; "
                                f"get it from http://dlib.net/files/{MODEL_FILES[key]}.bz2 or "
                                f"install face-recognition-models)")
    return path


def rect_to_box(rect: Any) -> np.ndarray:
    """dlib rectangle (inclusive right/bottom pixel) → FaceX ``(x1, y1, x2, y2)`` (exclusive edge)."""
    return np.array([rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1], dtype=np.float64)


def box_to_rect(box: Any) -> Any:
    """Inverse of :func:`rect_to_box`, rounding to whole pixels (exact for boxes dlib produced)."""
    import dlib

    x1, y1, x2, y2 = (int(np.floor(v + 0.5)) for v in np.asarray(box, dtype=np.float64)[:4])
    return dlib.rectangle(x1, y1, max(x1, x2 - 1), max(y1, y2 - 1))
