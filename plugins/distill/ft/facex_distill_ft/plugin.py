"""Registration of the factor-transfer loss (light: no torch import)."""
from facex_core import Component, config, hookimpl, option


@config
class FTConfig:
    """Factor transfer: distance between the L2-normalised student and teacher factors."""

    p: int = option(1, choices=(1, 2), doc="Norm of the factor difference (the paper uses p = 1).")


@hookimpl
def facex_components():
    return [Component(kind="distill_loss", name="ft",
                      summary="Factor transfer: p-norm distance of the L2-normalised student and teacher factors",
                      config=FTConfig, factory="facex_distill_ft.ft:FT",
                      paper="J. Kim, S. Park, N. Kwak, Paraphrasing Complex Network: Network Compression via "
                            "Factor Transfer, NeurIPS 2018")]
