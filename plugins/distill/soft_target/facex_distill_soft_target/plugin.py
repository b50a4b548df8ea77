"""Registration of the soft-target (Hinton) distillation loss (light: no torch import)."""
from facex_core import Component, config, hookimpl, option


@config
class SoftTargetConfig:
    """Hinton's knowledge distillation: KL divergence of temperature-softened class distributions."""

    T: float = option(4.0, gt=0, doc="Temperature T of both softmaxes (FaceX-Zoo KDF loss_conf.yaml: 4.0); "
                                     "the loss is multiplied by T² so its gradient scale does not depend on T.")


@hookimpl
def facex_components():
    return [Component(kind="distill_loss", name="soft_target",
                      summary="Hinton KD: T²·KL(softmax(teacher/T) ‖ softmax(student/T)) per sample",
                      config=SoftTargetConfig, factory="facex_distill_soft_target.soft_target:SoftTarget",
                      paper="G. Hinton, O. Vinyals, J. Dean, Distilling the Knowledge in a Neural Network, "
                            "NIPS Deep Learning Workshop 2014 (arXiv:1503.02531)")]
