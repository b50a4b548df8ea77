"""Image input and output (no torch import): BGR ``uint8`` arrays as OpenCV reads them."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import DataError
from ..runtime.files import write_atomic


class ImageLoadError(DataError):
    """An image could not be read or decoded; the message names the file."""


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Accept H×W, H×W×1, H×W×3 (BGR) or H×W×4 (BGRA) uint8 arrays; return contiguous H×W×3 uint8 BGR."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image (as cv2.imread returns), got dtype {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    elif not (img.ndim == 3 and img.shape[2] == 3):
        raise ValueError(f"expected an H×W, H×W×3 or H×W×4 image, got shape {img.shape}")
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"empty image of shape {img.shape}")
    return np.ascontiguousarray(img)


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image as BGR ``uint8`` H×W×3 (grey and BGRA are converted); errors name the file."""
    try:
        raw = np.fromfile(str(path), dtype=np.uint8)  # also handles non-ASCII paths, unlike imread
    except OSError as exc:
        raise ImageLoadError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    try:
        img = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED) if raw.size else None
    except cv2.error as exc:  # e.g. more pixels than OpenCV's limit: a bad image like any other
        raise ImageLoadError(f"{path}: OpenCV cannot decode it ({str(exc).strip().splitlines()[-1][:120]})") from None
    if img is None:
        raise ImageLoadError(f"{path}: not a decodable image")
    if img.dtype != np.uint8:
        img = cv2.convertScaleAbs(img, alpha=255.0 / max(1.0, float(img.max())))
    try:
        return as_bgr(img)
    except ValueError as exc:
        raise ImageLoadError(f"{path}: {exc}") from None


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Contiguous H×W×3 RGB copy of a BGR, grey or BGRA image (for libraries that want RGB: MediaPipe, dlib)."""
    return np.ascontiguousarray(cv2.cvtColor(as_bgr(image), cv2.COLOR_BGR2RGB))


def encode_image(image: np.ndarray, suffix: str = ".jpg", jpeg_quality: int = 95) -> bytes:
    """Encode ``image`` in the format of ``suffix`` (``.jpg`` with ``jpeg_quality``, ``.png``, ...)."""
    suffix = suffix.lower() or ".jpg"
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if suffix in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(suffix, image, params)
    if not ok:
        raise ValueError(f"OpenCV cannot encode {suffix} images")
    return buf.tobytes()


def write_image(path: str | os.PathLike, image: np.ndarray, jpeg_quality: int = 95) -> None:
    """Encode ``image`` by the suffix of ``path`` and write it atomically; an encoding failure names the file."""
    path = Path(path)
    try:
        data = encode_image(image, path.suffix, jpeg_quality)
    except ValueError as exc:
        raise OSError(f"{path}: could not encode the image ({exc})") from None
    write_atomic(path, data)
