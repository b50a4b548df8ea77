"""Registration of the FSP-matrix distillation loss (light: no torch import)."""
from facex_core import Component, config, hookimpl


@config
class FSPConfig:
    """FSP has no hyper-parameter: the layer pairs are consecutive taps of the term (all weighted equally)."""


@hookimpl
def facex_components():
    return [Component(kind="distill_loss", name="fsp",
                      summary="Flow of solution procedure: match the Gram (FSP) matrices between consecutive tapped maps",
                      config=FSPConfig, factory="facex_distill_fsp.fsp:FSP",
                      paper="J. Yim, D. Joo, J. Bae, J. Kim, A Gift from Knowledge Distillation: Fast Optimization, "
                            "Network Minimization and Transfer Learning, CVPR 2017")]
