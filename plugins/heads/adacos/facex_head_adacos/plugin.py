"""Registration of the AdaCos head (light: no torch import)."""
from facex_core import Component, HeadConfig, config, hookimpl, option


@config
class AdaCosConfig(HeadConfig):
    """AdaCos has no margin and no hand-set scale: s starts at √2·ln(C−1) and adapts (as in FaceX-Zoo)."""

    dynamic: bool = option(True, doc="Re-estimate the scale every training step from the batch (dynamic AdaCos, "
                                     "FaceX-Zoo's only form); false = keep the fixed √2·ln(C−1).")


@hookimpl
def facex_components():
    return [Component(kind="head", name="adacos", summary="AdaCos: no margin, scale adapted from the batch statistics",
                      config=AdaCosConfig, factory="facex_head_adacos.adacos:AdaCos",
                      paper="Zhang et al., AdaCos: Adaptively Scaling Cosine Logits for Effectively Learning "
                            "Deep Face Representations, CVPR 2019")]
