"""Registration of the MV-Softmax head (light: no torch import)."""
from facex_core import Component, HeadConfig, config, hookimpl, option


@config
class MVSoftmaxConfig(HeadConfig):
    """MV-Softmax hyper-parameters; defaults are the authors' (FaceX-Zoo ships t=1.12)."""

    is_am: bool = option(True, doc="Margin of the target: true = MV-AM-Softmax cos θ_y − m, "
                                   "false = MV-Arc-Softmax cos(θ_y + m).")
    margin: float = option(0.35, doc="Margin m (authors' code and FaceX-Zoo 0.35, for both variants).",
                           ge=0, le=1)
    mv_weight: float = option(1.2, doc="t ≥ 1: a mis-classified (hard) negative's cosine becomes t·cos θ_j + t − 1 "
                                       "(authors' 1.2, i.e. their code's t = 0.2; FaceX-Zoo uses 1.12).",
                              ge=1)
    scale: float = option(32.0, doc="Logit scale s (authors' code and FaceX-Zoo 32).", gt=0)
    easy_margin: bool = option(True, doc="Apply the margin only where cos θ_y > 0 (authors' code; FaceX-Zoo's AM "
                                         "variant uses cos θ_y > m); false = the margin everywhere.")


@hookimpl
def facex_components():
    return [Component(kind="head", name="mv_softmax",
                      summary="MV-Softmax: margin on the target, mis-classified negatives emphasised by t",
                      config=MVSoftmaxConfig, factory="facex_head_mv_softmax.mv_softmax:MVSoftmax",
                      paper="Wang, Zhang, Wang, Fu, Mei, Mis-classified Vector Guided Softmax Loss for Face "
                            "Recognition, AAAI 2020")]
