"""Registration of the AdaM-Softmax head (light: no torch import)."""
from facex_core import Component, HeadConfig, config, hookimpl, option


@config
class AdaMSoftmaxConfig(HeadConfig):
    """AdaM-Softmax hyper-parameters (FaceX-Zoo's class defaults; its head_conf uses s=32)."""

    scale: float = option(30.0, doc="Logit scale s (FaceX-Zoo's class default 30, as AM-Softmax; its head_conf "
                                    "uses 32).", gt=0)
    margin_loss_weight: float = option(70.0, doc="λ of the margin regulariser λ·(1 − mean_j m_j), which pushes the "
                                                 "learnable margins up (FaceX-Zoo's 'lamda' 70).", ge=0)
    init_margin_low: float = option(0.3, doc="Each class margin starts uniform in [low, high] (FaceX-Zoo 0.3).",
                                    ge=0, le=1)
    init_margin_high: float = option(0.4, doc="Upper end of the initial margin range (FaceX-Zoo 0.4).",
                                     ge=0, le=1)


@hookimpl
def facex_components():
    return [Component(kind="head", name="adam_softmax",
                      summary="AdaM-Softmax (AdaptiveFace): learnable per-class cosine margins cos θ_y − m_y",
                      config=AdaMSoftmaxConfig, factory="facex_head_adam_softmax.adam_softmax:AdaMSoftmax",
                      paper="Liu, Zhu, Lei, Li, AdaptiveFace: Adaptive Margin and Sampling for Face Recognition, "
                            "CVPR 2019")]
