"""Registration of the RetinaFace MobileNet-0.25 detector (light: no torch, numpy or cv2 import)."""
from typing import ClassVar

from facex_core import Component, config, hookimpl, option


@config
class RetinaFaceConfig:
    """FaceX-Zoo SDK detector settings; defaults are FaceX-Zoo's (face_detection_1.0)."""

    #: the probability threshold scenes such as `sdk --scene masked` lower
    score_threshold_field: ClassVar[str] = "confidence_threshold"

    weights: str = option("", doc="FaceX-Zoo's face_detection_retina.pkl (read without executing it), a "
                                  "state dict, or an .npz with the same keys; required")
    confidence_threshold: float = option(0.7, ge=0, le=1,
                                         doc="keep faces with probability above this (FaceX-Zoo: 0.7; "
                                             "its masked-face model_meta uses 0.4)")
    nms_threshold: float = option(0.2, ge=0, le=1,
                                  doc="IoU above which a lower-scored box is suppressed (FaceX-Zoo: 0.2)")
    top_k: int = option(5000, ge=0,
                        doc="best-scored candidates kept before NMS, 0 = all (FaceX-Zoo has no cap; "
                            "reached only with very low thresholds)")
    max_faces: int = option(0, ge=0, doc="faces returned per image, best first; 0 = all")
    max_side: int = option(2048, ge=0,
                           doc="images whose longer side exceeds this are downsized for detection and "
                               "the results mapped back; 0 = always full resolution (FaceX-Zoo)")
    batch_size: int = option(8, ge=1,
                             doc="same-sized images run through the network together")
    device: str = option("auto", doc="'auto' (CUDA when available), 'cpu' or 'cuda[:N]'")


_PAPER = ("Deng et al., RetinaFace: Single-stage Dense Face Localisation in the Wild, CVPR 2020; "
          "Wang et al., FaceX-Zoo: A PyTorch Toolbox for Face Recognition, ACM MM 2021 (SDK model)")


@hookimpl
def facex_components():
    return [Component(kind="detector", name="retinaface_mnet025",
                      summary="FaceX-Zoo's SDK face detector: RetinaFace, MobileNet-0.25, boxes + 5 landmarks",
                      config=RetinaFaceConfig, factory="facex_sdk_retinaface.detector:RetinaFaceDetector",
                      paper=_PAPER)]
