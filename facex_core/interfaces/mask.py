"""Mask adder interface: photos or aligned crops → the same images wearing a virtual mask (FMA-3D).

A ``mask_adder`` component (kind ``mask_adder``) owns its face model, its renderer and its mask
templates. Everything random (template choice and FMA-3D's augmentations) is drawn from a per-image
seed, so a masked data set is reproducible image for image whatever the worker count.
"""
from __future__ import annotations

import abc

from typing import Any, Sequence

import attrs
import numpy as np

from .sdk import Face, _Stage


@attrs.define
class MaskedImage:
    """What a mask adder made of one input image."""

    image: np.ndarray | None
    """The masked image (BGR ``uint8``, same size as the input); ``None`` when no mask was added."""
    template: str | None = None
    """Name of the template drawn on the image (recorded next to masked data sets)."""
    params: dict[str, Any] = attrs.field(factory=dict)
    """The augmentation draws used (flip, shrink, erosion, contrast, ...), JSON-serialisable."""
    error: str | None = None
    """Why no mask was added (e.g. no face found); ``None`` on success."""


class MaskAdder(_Stage):
    """Adds virtual masks to faces; see :mod:`facex_core` plugins of kind ``mask_adder``."""

    @abc.abstractmethod
    def templates(self) -> list[str]:
        """Names of the templates this adder can draw (built-in and configured extra ones)."""

    @abc.abstractmethod
    def add_masks(self, images: Sequence[np.ndarray], seeds: Sequence[int], *, aligned: bool = False,
                  templates: Sequence[str | None] | None = None,
                  faces: Sequence[list[Face]] | None = None) -> list[MaskedImage]:
        """Mask the main face of each image.

        ``aligned=True`` says the images are already aligned 112×112-style crops (the common case for
        training data); ``templates[i]`` forces a template (``None``: drawn from ``seeds[i]``);
        ``faces`` gives landmarks found earlier (else the adder locates them itself).
        """

    @abc.abstractmethod
    def lift_template(self, photo: np.ndarray, matte: np.ndarray) -> np.ndarray:
        """A new UV-space template (BGRA ``uint8``) from a photo of a masked person and its mask matte."""
