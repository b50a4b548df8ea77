"""Registration of the MediaPipe detector and FaceMesh landmarker (light: no mediapipe, numpy or cv2 import)."""
import importlib.util
from typing import ClassVar

from facex_core import Component, config, hookimpl, option

from ._import import MISSING_MEDIAPIPE


@config
class MediaPipeDetectorConfig:
    """MediaPipe face detection (BlazeFace) settings; defaults find faces up to about 5 m away."""

    #: the probability threshold scenes such as `sdk --scene masked` lower
    score_threshold_field: ClassVar[str] = "min_score"

    model: str = option("full_range", choices=("full_range", "short_range"),
                        doc="'full_range' (model_selection 1, faces up to ~5 m) or 'short_range' (0, ~2 m)")
    min_score: float = option(0.5, ge=0, le=1, doc="keep detections scoring at least this")
    max_faces: int = option(0, ge=0, doc="faces returned per image, best first; 0 = all")
    max_side: int = option(2048, ge=0,
                           doc="images whose longer side exceeds this are downsized for detection and the "
                               "results mapped back; 0 = never")
    tiles: int = option(1, ge=1, le=8,
                        doc="also run on an N×N grid of overlapping tiles and merge (3 finds small faces in "
                            "group photos); 1 = whole image only, as MediaPipe")
    overlap: float = option(0.5, ge=0, le=1,
                            doc="merge two boxes when their intersection exceeds this fraction of the "
                                "smaller one (duplicates from tiles and the whole image)")


@config
class MediaPipeMeshConfig:
    """MediaPipe FaceMesh settings: each face box is cropped, meshed and mapped back."""

    refine_landmarks: bool = option(False, doc="False: 468 points; True: 478 (adds 5 points per iris)")
    margin: float = option(0.25, ge=0, le=2,
                           doc="the square crop around a box is its longer side × (1 + 2·margin)")
    min_score: float = option(0.5, ge=0, le=1,
                              doc="FaceMesh's min_detection_confidence inside the crop")
    crop_size: int = option(256, ge=64,
                            doc="crops are resized to this side before FaceMesh (its models run at 128/192)")
    border: str = option("replicate", choices=("replicate", "constant"),
                         doc="how crops leaving the image are padded: 'replicate' edge pixels or "
                             "'constant' black")


_PAPER_DETECTOR = ("Bazarevsky et al., BlazeFace: Sub-millisecond Neural Face Detection on Mobile GPUs, "
                   "CVPR Workshops 2019 (MediaPipe 0.10.21 models, Apache-2.0)")
_PAPER_MESH = ("Kartynnik et al., Real-time Facial Surface Geometry from Monocular Video on Mobile GPUs, "
               "CVPR Workshops 2019; Ablavatski et al., Real-time Pupil Tracking from Monocular Video for "
               "Digital Puppetry, 2020 (irises) (MediaPipe 0.10.21 models, Apache-2.0)")


@hookimpl
def facex_components():
    # find_spec looks for the package without importing it, so `facex-core list` stays fast; without
    # mediapipe the plugin is listed as broken with the install recipe instead of failing at first use
    if importlib.util.find_spec("mediapipe") is None:
        raise ImportError(MISSING_MEDIAPIPE)
    return [
        Component(kind="detector", name="mediapipe",
                  summary="MediaPipe face detection (BlazeFace short/full range): boxes + 6 keypoints "
                          "(layout mediapipe6); no download",
                  config=MediaPipeDetectorConfig, factory="facex_sdk_mediapipe.detector:MediaPipeDetector",
                  paper=_PAPER_DETECTOR),
        Component(kind="landmarker", name="mediapipe_mesh",
                  summary="MediaPipe FaceMesh: 468 (478 with irises) landmarks with depth per face box; "
                          "no download",
                  config=MediaPipeMeshConfig, factory="facex_sdk_mediapipe.mesh:MediaPipeMeshLandmarker",
                  paper=_PAPER_MESH),
    ]
