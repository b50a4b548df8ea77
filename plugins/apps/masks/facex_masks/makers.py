"""The ``[[prepare]]`` steps ``masked_copy`` and ``one_side_masked_pairs``: masked data a run needs,
written before it starts (each returns at once when its output is complete)."""
from __future__ import annotations

from typing import Any

from facex_core import DatasetMaker

from .adders import DEFAULT_ADDER, adder_from_table
from .plugin import MaskedCopyConfig, OneSideMaskedPairsConfig


class MaskedCopy(DatasetMaker):
    """``facex-core data mask`` as a data maker: a masked copy of ``src`` under ``dst`` (resumable)."""

    config: MaskedCopyConfig

    def describe(self) -> str:
        c = self.config
        adder = c.mask_adder.get("name", DEFAULT_ADDER)
        return f"masked copy ({c.mode}, mask_adder {adder}): {c.src} -> {c.dst}"

    def prepare(self, workers: int = 0) -> dict[str, Any]:
        from .dataset import mask_dataset

        c = self.config
        adder = adder_from_table(c.mask_adder, source="[[prepare]] masked_copy")
        info = mask_dataset(c.src, c.dst, adder, train_list=c.train_list or None, aligned=c.aligned,
                            template=c.template or None, mode=c.mode, seed=c.seed, workers=workers,
                            batch_size=c.batch_size, out_list=c.out_list or None)
        print(f"      {info['images']} images, {info['masked']} masked, {info['no_face']} without a face found, "
              f"{info['failed'] + info['unreadable']} errors -> {info['out']}", flush=True)
        return info


class OneSideMaskedPairs(DatasetMaker):
    """LFW pairs whose second image is masked, from a pairs file, its images and their masked copy."""

    config: OneSideMaskedPairsConfig

    def describe(self) -> str:
        c = self.config
        return f"one-side-masked pairs: {c.pairs_file} (second image from {c.masked_root}) -> {c.output}"

    def prepare(self, workers: int = 0) -> dict[str, Any]:
        from .pairs import one_side_masked_pairs

        c = self.config
        return one_side_masked_pairs(c.pairs_file, c.image_root, c.masked_root, c.output)
