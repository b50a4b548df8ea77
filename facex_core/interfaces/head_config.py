"""Config fields shared by every classification head (torch-free, so plugin registration stays light)."""
from __future__ import annotations

from .classifier_config import ClassifierConfig
from ..configs.options import config, option


@config
class HeadConfig:
    """Fields every classification head has; a head's own config class extends it."""

    num_classes: int = option(doc="Number of training identities (filled from the data when omitted).", ge=1)
    embedding_size: int = option(512, doc="Embedding size D of the backbone (filled from it when omitted).", ge=1)
    classifier: ClassifierConfig = option(factory=ClassifierConfig,
                                          doc="Class centres: full FC, Partial FC (sample_rate < 1), sub-centres.")
