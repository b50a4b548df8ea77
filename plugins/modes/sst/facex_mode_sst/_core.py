"""The core pieces SST reuses, imported in one place from the public ``facex_core`` API."""
from facex_core import (CHECKPOINT_FORMAT, CHECKPOINT_VERSION, AugmentConfig, EpochSampler, build_optimizer,
                        load_checkpoint, save_checkpoint, to_tensor, validate_online)
from facex_core import augment as core_augment

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "AugmentConfig", "EpochSampler", "build_optimizer",
           "core_augment", "load_checkpoint", "save_checkpoint", "to_tensor", "validate_online"]
