"""Registration of the four ElasticFace heads (light: no torch import)."""
import math

from facex_core import Component, HeadConfig, config, hookimpl, option


@config
class ElasticArcFaceConfig(HeadConfig):
    """ElasticFace-Arc: target cos(θ_y + m_i), m_i ~ N(m, σ); the paper's defaults."""

    scale: float = option(64.0, doc="Logit scale s (paper 64).", gt=0)
    margin: float = option(0.5, doc="Mean m of the per-sample angular margins (paper 0.5).",
                           ge=0, le=math.pi / 2)
    std: float = option(0.05, doc="Standard deviation σ of the margins (paper 0.05 for ElasticFace-Arc).",
                        ge=0, le=1)
    plus: bool = option(False, doc="ElasticFace+: sort the draws so harder samples (lower cos θ_y) get larger margins.")


@config
class ElasticArcFacePlusConfig(ElasticArcFaceConfig):
    """ElasticFace-Arc+: the draws go to samples by hardness."""

    std: float = option(0.0175, doc="Standard deviation σ of the margins (paper 0.0175 for ElasticFace-Arc+).",
                        ge=0, le=1)
    plus: bool = option(True, doc="ElasticFace+: sort the draws so harder samples (lower cos θ_y) get larger margins.")


@config
class ElasticCosFaceConfig(HeadConfig):
    """ElasticFace-Cos: target cos θ_y − m_i, m_i ~ N(m, σ); the paper's defaults."""

    scale: float = option(64.0, doc="Logit scale s (paper 64).", gt=0)
    margin: float = option(0.35, doc="Mean m of the per-sample cosine margins (paper 0.35).", ge=0, le=1)
    std: float = option(0.05, doc="Standard deviation σ of the margins (paper 0.05 for ElasticFace-Cos).",
                        ge=0, le=1)
    plus: bool = option(False, doc="ElasticFace+: sort the draws so harder samples (lower cos θ_y) get larger margins.")


@config
class ElasticCosFacePlusConfig(ElasticCosFaceConfig):
    """ElasticFace-Cos+: the draws go to samples by hardness."""

    std: float = option(0.02, doc="Standard deviation σ of the margins (paper 0.02 for ElasticFace-Cos+).",
                        ge=0, le=1)
    plus: bool = option(True, doc="ElasticFace+: sort the draws so harder samples (lower cos θ_y) get larger margins.")


_PAPER = "Boutros et al., ElasticFace: Elastic Margin Loss for Deep Face Recognition, CVPR Workshops 2022"
_MODULE = "facex_head_elasticface.elasticface"


@hookimpl
def facex_components():
    return [
        Component(kind="head", name="elasticface_arc", summary="ElasticFace-Arc: cos(θ_y + m_i), m_i ~ N(0.5, 0.05)",
                  config=ElasticArcFaceConfig, factory=f"{_MODULE}:ElasticArcFace", paper=_PAPER),
        Component(kind="head", name="elasticface_arc_plus",
                  summary="ElasticFace-Arc+: N(0.5, 0.0175) margins, larger ones to harder samples",
                  config=ElasticArcFacePlusConfig, factory=f"{_MODULE}:ElasticArcFace", paper=_PAPER),
        Component(kind="head", name="elasticface_cos", summary="ElasticFace-Cos: cos θ_y − m_i, m_i ~ N(0.35, 0.05)",
                  config=ElasticCosFaceConfig, factory=f"{_MODULE}:ElasticCosFace", paper=_PAPER),
        Component(kind="head", name="elasticface_cos_plus",
                  summary="ElasticFace-Cos+: N(0.35, 0.02) margins, larger ones to harder samples",
                  config=ElasticCosFacePlusConfig, factory=f"{_MODULE}:ElasticCosFace", paper=_PAPER),
    ]
