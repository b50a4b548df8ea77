"""Core helpers SST reuses that ``facex_core`` does not (yet) export at its top level.

They are imported here, in one place, so a change in the core shows up as one import error. The
public API should export them (see the README, "Core hooks").
"""
from facex_core._data import EpochSampler, to_tensor
from facex_core._evaluate import validate_online
from facex_core._trainer import (CHECKPOINT_FORMAT, CHECKPOINT_VERSION, build_optimizer, load_checkpoint,
                                 save_checkpoint)

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "EpochSampler", "build_optimizer", "load_checkpoint",
           "save_checkpoint", "to_tensor", "validate_online"]
