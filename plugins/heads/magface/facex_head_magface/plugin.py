"""Registration of the MagFace head (light: no torch import)."""
import math

from facex_core import Component, HeadConfig, config, hookimpl, option


@config
class MagFaceConfig(HeadConfig):
    """MagFace hyper-parameters; defaults are the paper's / official code's (FaceX-Zoo uses λ_g = 20)."""

    scale: float = option(64.0, doc="Logit scale s (paper 64 and FaceX-Zoo's head_conf 64; its class default is 32).",
                          gt=0)
    lower_norm: float = option(10.0, doc="l_a: feature norms are clamped to [l_a, u_a] (paper 10).", gt=0)
    upper_norm: float = option(110.0, doc="u_a: upper end of the norm range (paper 110).", gt=0)
    lower_margin: float = option(0.45, doc="l_m: angular margin at a = l_a (paper 0.45).", ge=0, le=math.pi / 2)
    upper_margin: float = option(0.8, doc="u_m: angular margin at a = u_a (paper 0.8).", ge=0, le=math.pi / 2)
    lambda_g: float = option(35.0, doc="Weight λ_g of the regulariser g(a) = a/u_a² + 1/a (paper and official "
                                       "run scripts 35; FaceX-Zoo uses 20).", ge=0)
    easy_margin: bool = option(True, doc="Margin only where cos θ_y > 0, as the official MagLinear does; false = "
                                         "FaceX-Zoo's rule (cos θ_y − fallback_margin where θ_y + m > π).")
    fallback_margin: float = option(0.0, doc="With easy_margin false: the target where θ_y + m(a) > π is "
                                             "cos θ_y − this (FaceX-Zoo's margin_am, 0).", ge=0, le=1)


@hookimpl
def facex_components():
    return [Component(kind="head", name="magface",
                      summary="MagFace: margin grows with the feature norm, plus a norm regulariser",
                      config=MagFaceConfig, factory="facex_head_magface.magface:MagFace",
                      paper="Meng et al., MagFace: A Universal Representation for Face Recognition and "
                            "Quality Assessment, CVPR 2021")]
