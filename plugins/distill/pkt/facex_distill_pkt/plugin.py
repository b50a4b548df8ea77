"""Registration of the probabilistic knowledge transfer loss (light: no torch import)."""
from facex_core import Component, config, hookimpl


@config
class PKTConfig:
    """PKT with the cosine-similarity kernel has no hyper-parameter."""


@hookimpl
def facex_components():
    return [Component(kind="distill_loss", name="pkt",
                      summary="Probabilistic knowledge transfer: KL between teacher and student cosine-kernel "
                              "neighbour distributions in the batch",
                      config=PKTConfig, factory="facex_distill_pkt.pkt:PKT",
                      paper="N. Passalis, A. Tefas, Learning Deep Representations with Probabilistic Knowledge "
                            "Transfer, ECCV 2018")]
