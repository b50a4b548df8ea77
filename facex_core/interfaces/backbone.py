"""The Backbone interface: aligned face images in, raw embeddings out."""
from __future__ import annotations

import abc
from typing import Any, ClassVar, Sequence

import torch
from torch import nn


class Backbone(nn.Module, abc.ABC):
    """Maps ``N×3×H×W`` images to ``N×D`` embeddings that are *not* L2-normalised; input convention
    (FaceX-Zoo's): BGR channel order, pixels scaled as ``(x - 127.5) / 128``."""

    api_version: ClassVar[int] = 1  #: Bumped by the core when the contract changes; plugins may assert on it.

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config
        self.input_size: tuple[int, int] = tuple(getattr(config, "input_size", (112, 112)))  # type: ignore[assignment]
        self.embedding_size: int = int(getattr(config, "embedding_size", 512))

    @abc.abstractmethod
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``N×3×H×W`` images → ``N×D`` raw (not normalised) embeddings."""

    def stages(self) -> dict[str, nn.Module]:
        """The network's stages by name, in forward order (e.g. ``stem``, ``stage1`` ... ``stage4``):
        the modules whose outputs feature-map losses tap. Each family names its own."""
        raise NotImplementedError(f"{type(self).__name__} does not name its stages (Backbone.stages)")

    def forward_taps(self, images: torch.Tensor, taps: Sequence[str]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Embeddings of ``images`` and the outputs of the stages named in ``taps`` (one forward pass)."""
        stages = self.stages()
        unknown = [name for name in taps if name not in stages]
        if unknown:
            raise ValueError(f"{type(self).__name__} has no stage {unknown[0]!r} (stages: {', '.join(stages)})")
        maps: dict[str, torch.Tensor] = {}
        handles = [stages[name].register_forward_hook(lambda _m, _i, out, name=name: maps.__setitem__(name, out))
                   for name in taps]
        try:
            return self(images), maps
        finally:
            for handle in handles:
                handle.remove()

    def check_input(self, images: torch.Tensor) -> None:
        """Raise a clear error for images that are not ``N×3×H×W`` at :attr:`input_size`."""
        if torch.jit.is_tracing() or torch.compiler.is_compiling():
            return
        if images.dim() != 4 or images.shape[1] != 3 or tuple(images.shape[-2:]) != tuple(self.input_size):
            raise ValueError(f"expected N x 3 x {self.input_size[0]} x {self.input_size[1]} images, got "
                             f"{tuple(images.shape)} (set input_size in the backbone config)")

    def example_input(self, batch: int = 2) -> torch.Tensor:
        """A random batch of the right shape (for tracing, export and contract tests)."""
        return torch.randn(batch, 3, *self.input_size)
