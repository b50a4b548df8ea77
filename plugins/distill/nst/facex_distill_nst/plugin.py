"""Registration of the neuron selectivity transfer loss (light: no torch import)."""
from facex_core import Component, config, hookimpl


@config
class NSTConfig:
    """NST with the paper's polynomial kernel (d = 2, c = 0) has no hyper-parameter."""


@hookimpl
def facex_components():
    return [Component(kind="distill_loss", name="nst",
                      summary="Neuron selectivity transfer: squared MMD (polynomial kernel) between the "
                              "normalised channel maps of student and teacher",
                      config=NSTConfig, factory="facex_distill_nst.nst:NST",
                      paper="Z. Huang, N. Wang, Like What You Like: Knowledge Distill via Neuron Selectivity "
                            "Transfer, arXiv:1707.01219 (2017)")]
