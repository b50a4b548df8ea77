"""Registration of the relational knowledge distillation loss (light: no torch import)."""
from facex_core import Component, config, hookimpl, option


@config
class RKDConfig:
    """RKD: distance-wise and angle-wise relations of the batch, compared with the Huber loss."""

    distance_weight: float = option(25.0, ge=0, doc="λ_D of the distance-wise term (FaceX-Zoo KDF / KD-Zoo: 25).")
    angle_weight: float = option(50.0, ge=0, doc="λ_A of the angle-wise term (FaceX-Zoo KDF / KD-Zoo: 50).")


@hookimpl
def facex_components():
    return [Component(kind="distill_loss", name="rkd",
                      summary="Relational KD: Huber loss between the batch's normalised pairwise distances "
                              "and triplet angles of student and teacher",
                      config=RKDConfig, factory="facex_distill_rkd.rkd:RKD",
                      paper="W. Park, D. Kim, Y. Lu, M. Cho, Relational Knowledge Distillation, CVPR 2019 "
                            "(arXiv:1904.05068)")]
