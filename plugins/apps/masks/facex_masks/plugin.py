"""Registration of the mask tools (light: no numpy, cv2 or torch import).

* ``dataset`` components, usable as ``[[prepare]]`` steps of any config: ``masked_copy`` (``data mask``
  as a data maker) and ``one_side_masked_pairs`` (LFW pairs whose second image is masked);
* commands ``mask list|template|sheet`` and ``data mask``;
* the packaged config ``demo_masked.toml`` (``facex-core demo --masked``), found by name from any directory.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from facex_core import Command, Component, config, hookimpl, option

from .adders import DEFAULT_ADDER, check_adder_table

MODES = ("masked", "both")


@config
class MaskedCopyConfig:
    """A ``[[prepare]]`` step ``name = "masked_copy"``: ``facex-core data mask SRC DST`` as a data maker."""

    src: str = option(doc="image folder (identity sub-folders), image root with train_list, a train list file, "
                          "or a folder with train.rec/.idx/property")
    dst: str = option(doc="output folder of the masked copy (must differ from the source's image root)")
    train_list: str = option("", doc="FaceX-Zoo list with paths relative to src; empty: none")
    mode: str = option("masked", choices=MODES,
                       doc="'masked': masked copies only; 'both': originals plus masked copies as extra samples "
                           "of the same identity (MS-Celeb-1M-v1c-Mask recipe)")
    aligned: bool | None = option(None, doc="inputs are aligned 112x112-style crops; unset: yes for train lists "
                                            "and .rec, no for image folders")
    seed: int = option(0, ge=0, doc="base seed; each image's seed hashes it with its path")
    template: str = option("", doc="draw this template on every image; empty: drawn per image")
    batch_size: int = option(16, ge=1, doc="images per add_masks call")
    out_list: str = option("", doc="where the train list goes for train-list sources; empty: DST/train_list.txt")
    mask_adder: dict[str, Any] = option(factory=lambda: {"name": DEFAULT_ADDER}, validator=check_adder_table,
                                        doc=f"the mask adder: name (default {DEFAULT_ADDER!r}) plus its config keys, "
                                            "as a [prepare.mask_adder] table")


@config
class OneSideMaskedPairsConfig:
    """A ``[[prepare]]`` step ``name = "one_side_masked_pairs"``: LFW pairs whose second image is masked."""

    pairs_file: str = option(doc="LFW-format pairs file of the unmasked images")
    image_root: str = option(doc="folder of the unmasked images (name/name_000i.jpg)")
    masked_root: str = option(doc="folder of their masked copies at the same relative paths (a masked_copy dst)")
    output: str = option(doc="output folder: pairs.txt and images/ (second image of each pair numbered i + 1000)")


@hookimpl
def facex_components():
    return [Component(kind="dataset", name="masked_copy",
                      summary="masked copy of an image folder, train list or .rec (data mask; resumable)",
                      config=MaskedCopyConfig, factory="facex_masks.makers:MaskedCopy"),
            Component(kind="dataset", name="one_side_masked_pairs",
                      summary="LFW-format pairs whose second image is the masked copy (one side masked)",
                      config=OneSideMaskedPairsConfig, factory="facex_masks.makers:OneSideMaskedPairs")]


@hookimpl
def facex_commands():
    return [Command(name="mask", help="virtual masks (FMA-3D): list templates, lift a template, before/after sheet"),
            Command(name="list", group="mask", help="the templates the mask adder can draw",
                    setup="facex_masks.commands:setup_list"),
            Command(name="template", group="mask",
                    help="photo of a masked face + mask matte -> new UV template (BGRA PNG)",
                    setup="facex_masks.commands:setup_template"),
            Command(name="sheet", group="mask", help="before/after grid: original | masked with each template",
                    setup="facex_masks.sheet:setup_sheet"),
            Command(name="mask", group="data",
                    help="masked copy of an image folder, train list or .rec (FMA-3D; resumable)",
                    setup="facex_masks.commands:setup_data_mask")]


@hookimpl
def facex_packaged_configs():
    return {"demo_masked.toml": str(Path(__file__).with_name("demo_masked.toml"))}
