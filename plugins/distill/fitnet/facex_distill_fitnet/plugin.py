"""Registration of the FitNets hint loss (light: no torch import)."""
from facex_core import Component, config, hookimpl


@config
class FitNetConfig:
    """FitNets has no hyper-parameter of its own: the regressor is the distill mode's adapter
    (``adapter = "always"`` to use one even when the shapes already agree, as the paper does)."""


@hookimpl
def facex_components():
    return [Component(kind="distill_loss", name="fitnet",
                      summary="FitNets hint: mean squared difference of a student map (via its regressor) and a teacher map",
                      config=FitNetConfig, factory="facex_distill_fitnet.fitnet:FitNet",
                      paper="A. Romero et al., FitNets: Hints for Thin Deep Nets, ICLR 2015 (arXiv:1412.6550)")]
