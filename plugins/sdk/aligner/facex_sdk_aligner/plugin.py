"""Registration of the ArcFace 5-point aligner (light: no numpy, cv2 or torch import)."""
from facex_core import Component, config, hookimpl, option


@config
class ArcFace5ptConfig:
    """How crops are made; defaults reproduce FaceX-Zoo's SDK cropper (112×112, linear, black border)."""

    size: int = option(112, ge=16,
                       doc="crop side in pixels; the 112 template is scaled by size/112")
    interpolation: str = option("linear", choices=("nearest", "linear", "cubic", "area", "lanczos"),
                                doc="cv2.warpAffine interpolation (FaceX-Zoo: linear)")
    border_value: int = option(0, ge=0, le=255,
                               doc="grey level outside the image (FaceX-Zoo: 0)")
    truncate_landmarks: bool = option(False, doc="cast landmarks to integers first, as FaceX-Zoo's "
                                                 "face_pipline.py does (int32 truncation)")


@hookimpl
def facex_components():
    return [Component(kind="aligner", name="arcface_5pt",
                      summary="5-point similarity (Umeyama least squares) to the ArcFace 112x112 template; "
                              "takes 5, 25, 68, 106, 468 or 478 landmarks",
                      config=ArcFace5ptConfig, factory="facex_sdk_aligner.align:ArcFace5ptAligner",
                      paper="Deng et al., ArcFace, CVPR 2019 (template); Umeyama, Least-squares estimation "
                            "of transformation parameters between two point patterns, TPAMI 1991")]
