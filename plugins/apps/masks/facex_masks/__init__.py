"""FaceX mask tools: ``facex-core mask list|template|sheet``, ``facex-core data mask``, the ``[[prepare]]``
steps ``masked_copy`` and ``one_side_masked_pairs``, and the masked demo's config (see README.md).

* :mod:`.plugin`: the step configs and the registration; :mod:`.adders`: which mask adder a table names;
* :mod:`.source`, :mod:`.batch`, :mod:`.output`, :mod:`.dataset`: ``mask_dataset``, a resumable masked copy
  of a data set; :mod:`.pairs`: ``one_side_masked_pairs``; :mod:`.makers`: the ``[[prepare]]`` steps;
* :mod:`.commands` and :mod:`.sheet`: the commands.

The names below are imported on first use, so importing the package stays light.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .adders import DEFAULT_ADDER, build_adder, install_hint
    from .dataset import mask_dataset
    from .output import LOG_NAME, RECORD_NAME, SUMMARY_NAME, masked_name
    from .pairs import MASKED_IMAGE_OFFSET, one_side_masked_pairs
    from .sheet import compose_sheet
    from .source import MaskSource, image_seed

_LAZY = {"DEFAULT_ADDER": "adders", "build_adder": "adders", "install_hint": "adders", "mask_dataset": "dataset",
         "LOG_NAME": "output", "RECORD_NAME": "output", "SUMMARY_NAME": "output", "masked_name": "output",
         "MASKED_IMAGE_OFFSET": "pairs", "one_side_masked_pairs": "pairs", "compose_sheet": "sheet",
         "MaskSource": "source", "image_seed": "source"}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'facex_masks' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
