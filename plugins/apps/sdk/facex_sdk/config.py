"""The SDK's settings: the ``[sdk]`` table, the default stage chain and the ``--config/--set/--scene`` options.

An SDK config is one optional TOML file plus ``--set`` overrides; without either, the zero-download chain
:data:`DEFAULT_NAMES` runs (every model ships inside a wheel: mediapipe, face-recognition-models)::

    [detector]            # default: mediapipe
    name = "retinaface_mnet025"
    weights = "retinaface_mobilenet0.25.npz"
    [landmarker]          # default: mediapipe_mesh; name = "none" skips the stage
    name = "none"
    [aligner]             # default: dlib_chip
    name = "arcface_5pt"
    [recognizer]          # default: dlib_resnet
    name = "facex"
    checkpoint = "runs/demo/checkpoints/last.pt"
    [sdk]
    threshold = 0.5       # else: calibration file, the recognizer's documented default, 0.35
    scene = "masked"      # lower detection threshold for masked faces
    [gallery]
    index = "pq"          # how `sdk gallery build` indexes identities: exact (default), pq, ivf or hnsw (FAISS)
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from facex_core import config, option

STAGES = ("detector", "landmarker", "aligner", "recognizer")
TABLES = (*STAGES, "sdk", "gallery")
#: The zero-download default pipeline: every model ships inside a wheel (mediapipe, face-recognition-models).
DEFAULT_NAMES = {"detector": "mediapipe", "landmarker": "mediapipe_mesh", "aligner": "dlib_chip",
                 "recognizer": "dlib_resnet"}
#: ``[landmarker] name = "none"`` runs without a landmark stage (the detector's own landmarks are used).
NO_STAGE = "none"
#: Where the SDK components of the FaceX project come from (``plugins/sdk/<folder>``, distribution
#: ``facex-sdk-<folder>``), for "not installed" errors.
DISTRIBUTIONS = {"mediapipe": "mediapipe", "mediapipe_mesh": "mediapipe", "dlib_hog": "dlib",
                 "dlib_5pt": "dlib", "dlib_68pt": "dlib", "dlib_chip": "dlib", "dlib_resnet": "dlib",
                 "retinaface_mnet025": "retinaface", "arcface_5pt": "aligner", "facex": "recognizer",
                 "onnx": "recognizer"}
#: The last-resort decision threshold: a placeholder, used only when nothing better is known.
DEFAULT_THRESHOLD = 0.35
#: Scenes: ``masked`` lowers the detector's score threshold to FaceX-Zoo's masked-face value
#: (face_detection_2.0 model_meta: confidence_threshold 0.4, against 0.7 for 1.0).
SCENES = ("default", "masked")
MASKED_DETECTION_THRESHOLD = 0.4


@config
class SdkConfig:
    """The ``[sdk]`` table: settings of the commands rather than of a stage."""

    threshold: float | None = option(None,
                                     doc="cosine similarity at or above which two faces are called the "
                                         "same person; unset: the calibration record (sdk calibrate), "
                                         "else the recognizer's documented default, else 0.35 "
                                         "(an uncalibrated placeholder)")
    calibration: str = option("", doc="calibration record written by `sdk calibrate --out`; the record "
                                      "beside the recognizer's model file is found without it")
    scene: str = option("default", choices=SCENES,
                        doc="'default', or 'masked': detector score threshold lowered to 0.4 "
                            "(FaceX-Zoo's masked-face detector setting) unless set explicitly")
    face: str = option("largest", choices=("largest", "best"),
                       doc="which face of an image compare/search/calibrate use: 'largest' (box area) "
                           "or 'best' (detector score)")
    batch_size: int = option(8, ge=1, doc="images read and run through the stages together")


#: Gallery indexes: exact search, or an approximate FAISS index (``pip install 'facex-sdk[faiss]'``).
INDEXES = ("exact", "pq", "ivf", "hnsw")
#: Gallery settings read at search time (the others are fixed when the index is built).
SEARCH_KEYS = ("nprobe", "ef_search", "rerank", "block_mb")


@config
class GalleryConfig:
    """The ``[gallery]`` table: how a gallery indexes its identities; stored in the gallery file."""

    index: str = option("exact", choices=INDEXES,
                        doc="'exact': every identity scored (blocked matrix product); approximate FAISS indexes "
                            "(pip install 'facex-sdk[faiss]') for large galleries: 'pq' (4-bit product-"
                            "quantisation codes of every identity scanned, any data), 'ivf' (inverted lists) "
                            "or 'hnsw' (a graph), both for embeddings that form clusters")
    pq_m: int = option(0, ge=0, doc="pq: sub-quantizers (half a byte each per identity); 0 = dim/8, at most 64, "
                                    "a divisor of dim")
    nlist: int = option(0, ge=0, doc="ivf: inverted lists; 0 = about sqrt(N) at build time")
    nprobe: int = option(64, ge=1, doc="ivf: lists scanned per probe (more: better recall, slower)")
    hnsw_m: int = option(32, ge=4, le=256, doc="hnsw: links per node (more: better recall, larger, slower build)")
    ef_construction: int = option(40, ge=8, doc="hnsw: candidate list while building")
    ef_search: int = option(512, ge=1, doc="hnsw: candidate list per probe (more: better recall, slower)")
    rerank: int = option(64, ge=1, doc="approximate indexes: candidates per probe re-scored exactly with the "
                                        "stored embeddings (the scores reported are exact)")
    block_mb: int = option(64, ge=1, doc="exact search: memory for one block of scores (probes x rows)")


def install_hint(name: str) -> str:
    """How to install the distribution that provides SDK component ``name`` (empty if not a FaceX one)."""
    folder = DISTRIBUTIONS.get(name.rpartition(":")[2])
    if folder is None:
        return ""
    return f"pip install facex-sdk-{folder} (in a FaceX checkout: pip install -e plugins/sdk/{folder})"


def add_aligned_option(p: argparse.ArgumentParser, what: str = "the images") -> None:
    """``--aligned``: the images are aligned crops already (detection and alignment skipped; only the
    aligner, whose crops they must be, and the recognizer are built)."""
    p.add_argument("--aligned", action="store_true",
                   help=f"{what} are aligned crops already (FaceX-Zoo and InsightFace data are): embed them "
                        "as they are, skipping detection and alignment (only the aligner and recognizer are "
                        "built: no detector plugin needed)")


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """``--config``, ``--set`` and ``--scene``, shared by the sdk commands and ``data align``."""
    p.add_argument("--config", help="SDK TOML: [detector], [landmarker], [aligner], [recognizer], [sdk]")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a config key (repeatable), e.g. --set detector.name=retinaface_mnet025")
    p.add_argument("--scene", choices=SCENES, action=_SceneAction, dest="set", default=argparse.SUPPRESS,
                   help="'masked': detector score threshold 0.4 for masked faces (same as --set sdk.scene=masked)")


class _SceneAction(argparse.Action):
    """``--scene X`` is ``--set sdk.scene=X``: one place decides what a scene changes."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        items = list(getattr(namespace, self.dest, None) or [])
        setattr(namespace, self.dest, [*items, f"sdk.scene={json.dumps(values)}"])


def positive_int(text: str) -> int:
    """An ``argparse`` type: a whole number >= 1 (``--top 0`` or ``--top -3`` is a usage error)."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value
