"""Registration of the SNN-MIMIC distillation loss (light: no torch import)."""
from facex_core import Component, config, hookimpl


@config
class SNNMimicConfig:
    """SNN-MIMIC has no hyper-parameter: the student regresses the teacher's logits (L2)."""


@hookimpl
def facex_components():
    return [Component(kind="distill_loss", name="snn_mimic",
                      summary="Logit regression: mean squared difference of student and teacher logits",
                      config=SNNMimicConfig, factory="facex_distill_snn_mimic.snn_mimic:SNNMimic",
                      paper="J. Ba, R. Caruana, Do Deep Nets Really Need to be Deep?, NeurIPS 2014")]
