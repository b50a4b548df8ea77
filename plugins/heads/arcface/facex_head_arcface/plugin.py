"""Registration of the ArcFace head (light: no torch import)."""
import math

from facex_core import ClassifierConfig, Component, HeadConfig, config, hookimpl, option


@config
class ArcFaceConfig(HeadConfig):
    """ArcFace hyper-parameters; defaults are the paper's (FaceX-Zoo ships m=0.35, s=32)."""

    scale: float = option(64.0, doc="Logit scale s (paper 64; FaceX-Zoo's head_conf uses 32).", gt=0)
    margin: float = option(0.5, doc="Additive angular margin m in radians (paper 0.5; FaceX-Zoo uses 0.35).",
                           ge=0, le=math.pi / 2)
    easy_margin: bool = option(False, doc="Apply the margin only where cos θ_y > 0 (InsightFace's option).")
    fallback_margin: float = option(-1.0, doc="Where θ_y + m > π the target becomes cos θ_y − this; "
                                              "-1 = m·sin m (InsightFace, keeps the target monotone), FaceX-Zoo uses 0.",
                                    ge=-1, le=2)


@config
class SubCenterArcFaceConfig(ArcFaceConfig):
    """Sub-center ArcFace: ArcFace over the max cosine of K=3 sub-centres per class."""

    classifier: ClassifierConfig = option(factory=lambda: ClassifierConfig(sub_centers=3),
                                          doc="Class centres; sub_centers K=3 as in the paper.")


_ARCFACE = "Deng et al., ArcFace: Additive Angular Margin Loss for Deep Face Recognition, CVPR 2019"


@hookimpl
def facex_components():
    return [Component(kind="head", name="arcface", summary="ArcFace: additive angular margin cos(θ_y + m)",
                      config=ArcFaceConfig, factory="facex_head_arcface.arcface:ArcFace", paper=_ARCFACE),
            Component(kind="head", name="subcenter_arcface",
                      summary="Sub-center ArcFace: K=3 centres per class, max cosine, then ArcFace",
                      config=SubCenterArcFaceConfig, factory="facex_head_arcface.arcface:ArcFace",
                      paper="Deng et al., Sub-center ArcFace: Boosting Face Recognition by Large-scale "
                            "Noisy Web Faces, ECCV 2020")]
