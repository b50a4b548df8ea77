"""Registration of the ArcNegFace head (light: no torch import)."""
import math

from facex_core import Component, HeadConfig, config, hookimpl, option


@config
class ArcNegFaceConfig(HeadConfig):
    """ArcNegFace hyper-parameters; the paper's defaults, which FaceX-Zoo also ships."""

    scale: float = option(64.0, doc="Logit scale s (paper and FaceX-Zoo 64).", gt=0)
    margin: float = option(0.5, doc="Additive angular margin m of the target, cos(θ_y + m) (paper and FaceX-Zoo 0.5).",
                           ge=0, le=math.pi / 2)
    alpha: float = option(1.2, doc="Peak α of the negative weights α·exp(−(cos θ_j − t_y)²/σ) (paper 1.2).",
                          gt=0)
    sigma: float = option(2.0, doc="Width σ of the negative weights (paper 2).", gt=0)


@hookimpl
def facex_components():
    return [Component(kind="head", name="arcnegface",
                      summary="ArcNegFace: ArcFace target, negatives near it re-weighted by a Gaussian",
                      config=ArcNegFaceConfig, factory="facex_head_arcnegface.arcnegface:ArcNegFace",
                      paper="Liu et al., Towards Flops-constrained Face Recognition, ICCV Workshops 2019")]
