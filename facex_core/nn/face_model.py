"""The network conventional training optimises: a backbone followed by a margin head."""
from __future__ import annotations

import torch
from torch import nn

from ..interfaces.head import Head, HeadOutput


class FaceModel(nn.Module):
    """Backbone + head; state-dict keys are ``backbone.*`` and ``head.*`` as in FaceX-Zoo."""

    def __init__(self, backbone: nn.Module, head: Head) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> HeadOutput:
        return self.head(self.backbone(images), labels)
