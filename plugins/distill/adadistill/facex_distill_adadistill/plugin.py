"""Registration of the AdaDistill face distillation loss (light: no torch import)."""
from facex_core import Component, config, hookimpl, option


@config
class AdaDistillConfig:
    """AdaDistill: a margin-penalty softmax whose class centres are moving averages of the teacher's
    embeddings, with an adaptive momentum. Defaults: the authors' released config (ArcFace, s 64, m 0.45)."""

    num_classes: int = option(0, ge=0, doc="Identities C (0: filled from the training data by the distill mode).")
    embedding_size: int = option(0, ge=0, doc="Size D of the teacher embeddings the centres live in (0: filled "
                                              "from the teacher by the distill mode).")
    margin_type: str = option("arcface", choices=("arcface", "cosface"),
                              doc="Margin penalty: 'arcface' (cos(θ_y + m): AdaArcDistill) or 'cosface' "
                                  "(cos θ_y − m: AdaCosDistill).")
    scale: float = option(64.0, gt=0, doc="Logit scale s (the authors' config: 64).")
    margin: float = option(0.45, ge=0, lt=1.6, doc="Margin m (the authors' config: 0.45 with ArcFace; CosFace "
                                                   "is usually trained with 0.35).")
    eps: float = option(1e-6, gt=0, lt=1, doc="Lower clamp of the similarity to the class centre and of the "
                                             "momentum α (the authors' code: 1e-6).")


@hookimpl
def facex_components():
    return [Component(kind="distill_loss", name="adadistill",
                      summary="AdaDistill (face-specific): margin softmax against class centres that track the "
                              "teacher's embeddings with an adaptive momentum",
                      config=AdaDistillConfig, factory="facex_distill_adadistill.adadistill:AdaDistill",
                      paper="F. Boutros, V. Štruc, N. Damer, AdaDistill: Adaptive Knowledge Distillation for Deep "
                            "Face Recognition, ECCV 2024 (arXiv:2407.01332)")]
