"""Registration of the CurricularFace head (light: no torch import)."""
import math

from facex_core import Component, HeadConfig, config, hookimpl, option


@config
class CurricularFaceConfig(HeadConfig):
    """CurricularFace hyper-parameters; defaults are the paper's (FaceX-Zoo's are the same)."""

    scale: float = option(64.0, doc="Logit scale s (paper and FaceX-Zoo 64).", gt=0)
    margin: float = option(0.5, doc="Additive angular margin m of the target, cos(θ_y + m) (paper and FaceX-Zoo 0.5).",
                           ge=0, le=math.pi / 2)
    momentum: float = option(0.01, doc="Weight of the batch's mean target cosine in the EMA of t "
                                       "(official code and FaceX-Zoo 0.01).",
                             gt=0, le=1)


@hookimpl
def facex_components():
    return [Component(kind="head", name="curricularface",
                      summary="CurricularFace: ArcFace target, hard negatives re-weighted by an adaptive t",
                      config=CurricularFaceConfig, factory="facex_head_curricularface.curricularface:CurricularFace",
                      paper="Huang et al., CurricularFace: Adaptive Curriculum Learning Loss for Deep Face "
                            "Recognition, CVPR 2020")]
