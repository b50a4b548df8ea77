"""Registration of the SphereFace2 head (light: no torch import)."""
from facex_core import Component, HeadConfig, config, hookimpl, option


@config
class SphereFace2Config(HeadConfig):
    """SphereFace2-C hyper-parameters; defaults are the paper's / official opensphere code's."""

    positive_weight: float = option(0.7, doc="λ: weight of the positive pair, 1 − λ of each negative "
                                             "(paper Eq. 5: 0.7).",
                                    gt=0, lt=1)
    scale: float = option(40.0, doc="Scale r of the binary logits r·(g(cos θ) ∓ m) + b (paper 40).", gt=0)
    margin: float = option(0.4, doc="Additive margin m on g(cos θ): − for the own class, + for others (paper 0.4).",
                           ge=0, le=1)
    t: float = option(3.0, doc="Similarity adjustment g(z) = 2((z + 1)/2)^t − 1 (paper 3).",
                      ge=1)
    loss_weight: float = option(50.0, doc="Multiplies the loss (opensphere's lw, 50); the paper's Eq. has 1.",
                                gt=0)
    detach_adjustment: bool = option(True, doc="Apply g and ∓m as a shift with no gradient, so d logit/d cos = r "
                                               "(opensphere); false = differentiate through g.")


@hookimpl
def facex_components():
    return [Component(kind="head", name="sphereface2",
                      summary="SphereFace2: C one-vs-all logistic losses on r·(g(cos θ) ∓ m) + b, no softmax",
                      config=SphereFace2Config, factory="facex_head_sphereface2.sphereface2:SphereFace2",
                      paper="Wen et al., SphereFace2: Binary Classification is All You Need for Deep Face "
                            "Recognition, ICLR 2022")]
