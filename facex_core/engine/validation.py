"""Online validation: the primary metric of an experiment's first protocol for a network in training."""
from __future__ import annotations

from typing import Any

import torch

from .extract import extract_features


def validate_online(exp: Any, backbone: torch.nn.Module) -> tuple[str, float]:
    """Primary metric of the first configured protocol for the backbone being trained (no cache)."""
    if not exp.protocols:
        raise ValueError("training.loop.validate_every needs at least one [[evaluation.protocols]] entry")
    name, protocol = exp.build_protocols()[0]
    ev = exp.evaluation
    feats = extract_features(backbone, protocol.image_root, protocol.images(), input_size=backbone.input_size,
                             batch_size=ev.batch_size, flip=ev.flip, device=exp.device, num_workers=0,
                             crop_eye=bool(getattr(exp.data, "crop_eye", False)), desc=f"validate {name}")
    result = protocol.evaluate(feats)
    return f"{name}/{result.primary}", float(result.metrics[result.primary])
