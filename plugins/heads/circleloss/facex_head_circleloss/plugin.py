"""Registration of the CircleLoss head (light: no torch import)."""
from facex_core import Component, HeadConfig, config, hookimpl, option


@config
class CircleLossConfig(HeadConfig):
    """CircleLoss hyper-parameters; defaults are the paper's face-recognition values (FaceX-Zoo's too)."""

    margin: float = option(0.25, doc="Relaxation margin m: optima O_p = 1 + m, O_n = −m, decision margins "
                                     "Δ_p = 1 − m, Δ_n = m (paper and FaceX-Zoo 0.25).", ge=0, lt=0.5)
    gamma: float = option(256.0, doc="Scale factor γ (paper and FaceX-Zoo 256).", gt=0)


@hookimpl
def facex_components():
    return [Component(kind="head", name="circleloss",
                      summary="CircleLoss (class-level labels): self-paced weights α on positive and negative cosines",
                      config=CircleLossConfig, factory="facex_head_circleloss.circleloss:CircleLoss",
                      paper="Sun et al., Circle Loss: A Unified Perspective of Pair Similarity Optimization, CVPR 2020")]
