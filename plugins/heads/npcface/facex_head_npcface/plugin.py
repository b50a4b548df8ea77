"""Registration of the NPCFace head (light: no torch import)."""
import math

from facex_core import Component, HeadConfig, config, hookimpl, option


@config
class NPCFaceConfig(HeadConfig):
    """NPCFace hyper-parameters; defaults are the paper's (FaceX-Zoo's head_conf ships m=0.35, s=32)."""

    scale: float = option(64.0, doc="Logit scale s (paper and FaceX-Zoo's class default 64; its head_conf uses 32).",
                          gt=0)
    margin: float = option(0.5, doc="Margin m of the hard-negative test cos θ_j > cos(θ_y + m) (FaceX-Zoo's class "
                                    "default 0.5; its head_conf uses 0.35).", ge=0, le=math.pi / 2)
    m0: float = option(0.40, doc="Base m0 of the positive margin m' = m0 + m1·(mean hard-negative cosine).",
                       ge=0, le=math.pi / 2)
    m1: float = option(0.20, doc="Slope m1 of the positive margin on the mean hard-negative cosine.",
                       ge=0, le=1)
    t: float = option(1.10, doc="Hard negatives become t·cos θ_j + a (slope t).", ge=1)
    a: float = option(0.20, doc="Hard negatives become t·cos θ_j + a (offset a).", ge=0, le=1)


@hookimpl
def facex_components():
    return [Component(kind="head", name="npcface",
                      summary="NPCFace: hard negatives t·cos+a, positive margin grows with their mean cosine",
                      config=NPCFaceConfig, factory="facex_head_npcface.npcface:NPCFace",
                      paper="Zeng et al., NPCFace: Negative-Positive Collaborative Training for Large-scale "
                            "Face Recognition, arXiv 2007.10172, 2020")]
