"""Registration of the AM-Softmax head and its CosFace alias (light: no torch import)."""
from facex_core import Component, HeadConfig, config, hookimpl, option


@config
class AMSoftmaxConfig(HeadConfig):
    """AM-Softmax hyper-parameters; defaults are the AM-Softmax paper's (FaceX-Zoo ships s=32)."""

    scale: float = option(30.0, doc="Logit scale s (AM-Softmax paper 30; FaceX-Zoo's head_conf uses 32).", gt=0)
    margin: float = option(0.35, doc="Additive cosine margin m (paper 0.35, as FaceX-Zoo).", ge=0, le=1)


@config
class CosFaceConfig(AMSoftmaxConfig):
    """CosFace (LMCL) is the same head; only the paper's scale differs (64 instead of 30)."""

    scale: float = option(64.0, doc="Logit scale s (CosFace paper 64; FaceX-Zoo's am_softmax uses 32).", gt=0)


@hookimpl
def facex_components():
    factory = "facex_head_am_softmax.am_softmax:AMSoftmax"
    return [Component(kind="head", name="am_softmax", summary="AM-Softmax: additive cosine margin cos θ_y − m (s=30)",
                      config=AMSoftmaxConfig, factory=factory,
                      paper="Wang, Cheng, Liu, Liu, Additive Margin Softmax for Face Verification, "
                            "IEEE Signal Processing Letters 2018"),
            Component(kind="head", name="cosface", summary="CosFace (LMCL): additive cosine margin cos θ_y − m (s=64)",
                      config=CosFaceConfig, factory=factory,
                      paper="Wang et al., CosFace: Large Margin Cosine Loss for Deep Face Recognition, CVPR 2018")]
