"""Registration of the ArcFace head (light: no torch import)."""
from facex_core import Component, HeadConfig, config, hookimpl, option


@config
class ArcFaceConfig(HeadConfig):
    """ArcFace hyper-parameters; defaults are the paper's (FaceX-Zoo ships m=0.35, s=32)."""

    scale: float = option(64.0, doc="Logit scale s (paper 64; FaceX-Zoo's head_conf uses 32).")
    margin: float = option(0.5, doc="Additive angular margin m in radians (paper 0.5; FaceX-Zoo uses 0.35).")
    easy_margin: bool = option(False, doc="Apply the margin only where cos θ_y > 0 (InsightFace's option).")
    fallback_margin: float = option(-1.0, doc="Where θ_y + m > π the target becomes cos θ_y − this; "
                                              "-1 = m·sin m (InsightFace, keeps the target monotone), FaceX-Zoo uses 0.")


@hookimpl
def facex_components():
    return [Component(kind="head", name="arcface", summary="ArcFace: additive angular margin cos(θ_y + m)",
                      config=ArcFaceConfig, factory="facex_head_arcface.arcface:ArcFace",
                      paper="Deng et al., ArcFace: Additive Angular Margin Loss for Deep Face Recognition, CVPR 2019")]
