"""Settings of a head's class centres (torch-free, so head registration stays light)."""
from __future__ import annotations

from ..configs.options import config, option


@config
class ClassifierConfig:
    """How a margin head stores and samples its class centres."""

    sample_rate: float = option(1.0, doc="Partial FC: fraction r of each shard's centres per step (all positives "
                                         "are always kept); 1.0 = full FC.",
                                gt=0, le=1)
    sub_centers: int = option(1, doc="K centres per class, cosine = max over them (Sub-center ArcFace); 1 = plain.",
                              ge=1)
    shard: bool = option(True, doc="Under torch.distributed, split the centres across ranks (model parallel) "
                                   "with an exact softmax over all shards.")
