"""Registration of the AdaFace head (light: no torch import)."""
from facex_core import Component, HeadConfig, config, hookimpl, option


@config
class AdaFaceConfig(HeadConfig):
    """AdaFace hyper-parameters; defaults are the paper's (= the official training scripts')."""

    scale: float = option(64.0, doc="Logit scale s (paper 64).", gt=0)
    margin: float = option(0.4, doc="Margin m (paper 0.4; the official argparse default is 0.5, its scripts "
                                    "pass 0.4).", ge=0, le=1)
    h: float = option(0.333, doc="Concentration h: ẑ = clip(h·(‖z‖ − μ)/σ, −1, 1) (paper 0.333).", gt=0)
    momentum: float = option(0.01, doc="EMA weight α of each training batch's norm mean/std (paper 0.01).",
                             gt=0, le=1)
    eps: float = option(1e-3, doc="Stabiliser of the official code: σ + eps, cos θ_y clamped to ±(1 − eps), "
                                  "θ in [eps, π − eps].", gt=0, lt=0.5)


@hookimpl
def facex_components():
    return [Component(kind="head", name="adaface",
                      summary="AdaFace: margin adapts to image quality via the normalised feature norm",
                      config=AdaFaceConfig, factory="facex_head_adaface.adaface:AdaFace",
                      paper="Kim et al., AdaFace: Quality Adaptive Margin for Face Recognition, CVPR 2022")]
