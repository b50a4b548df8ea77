"""FaceX-Zoo ``HRNet`` (``backbone/HRNet.py``, after HRNet-Image-Classification) → FaceX ``hrnet_w18``.

Module names are ``cls_hrnet``'s on both sides; only the output layer differs (FaceX-Zoo's
``output_layer.1``/``.2`` are ``linear``/``bn_out``). The nested ``EXTRA.STAGEk`` tables become the
plugin's flat fields; layouts the plugin cannot express (per-branch block counts, widths that do not
double, other block types) are refused.
"""
from __future__ import annotations

from typing import Any

from facex_core import ConfigError

from ..mapping import renamer
from .base import FaceXZooImporter, output_layer

_RENAME = renamer(*output_layer((1, "linear"), (2, "bn_out")))


def _stage(extra: dict[str, Any], k: int) -> dict[str, Any]:
    stage = extra.get(f"STAGE{k}")
    if not isinstance(stage, dict):
        raise ConfigError(f"backbone.EXTRA.STAGE{k}: expected a table")
    return stage


class HRNetImporter(FaceXZooImporter):
    zoo_type = "HRNet"

    def backbone_table(self) -> dict[str, Any]:
        extra = self.config.EXTRA
        one = _stage(extra, 1)
        if one.get("BLOCK", "BOTTLENECK") != "BOTTLENECK" or len(one.get("NUM_CHANNELS", [64])) != 1:
            raise ConfigError("backbone.EXTRA.STAGE1: FaceX's HRNet has one BOTTLENECK branch in stage 1")
        modules, blocks, width = [], [], None
        for k, branches in ((2, 2), (3, 3), (4, 4)):
            stage = _stage(extra, k)
            channels = list(stage.get("NUM_CHANNELS", []))
            counts = set(stage.get("NUM_BLOCKS", []))
            where = f"backbone.EXTRA.STAGE{k}"
            if stage.get("NUM_BRANCHES", branches) != branches or len(channels) != branches:
                raise ConfigError(f"{where}: HRNet stage {k} has {branches} branches")
            if stage.get("BLOCK", "BASIC") != "BASIC" or stage.get("FUSE_METHOD", "SUM") != "SUM":
                raise ConfigError(f"{where}: FaceX's HRNet uses BASIC blocks and SUM fusion")
            if len(counts) != 1:
                raise ConfigError(f"{where}.NUM_BLOCKS: FaceX's HRNet has the same block count on every branch, "
                                  f"got {stage.get('NUM_BLOCKS')}")
            width = width or channels[0]
            if channels != [width * 2 ** i for i in range(branches)]:
                raise ConfigError(f"{where}.NUM_CHANNELS: FaceX's HRNet doubles the width per branch "
                                  f"({[width * 2 ** i for i in range(branches)]}), got {channels}")
            modules.append(int(stage.get("NUM_MODULES", 1)))
            blocks.append(counts.pop())
        return {"name": "hrnet_w18", "width": width, "stage1_channels": int(one.get("NUM_CHANNELS", [64])[0]),
                "stage1_blocks": int(one.get("NUM_BLOCKS", [4])[0]), "modules": modules, "blocks": blocks,
                "embedding_size": self.config.feat_dim, "input_size": self.input_size()}

    def rename(self, key: str) -> str | None:
        return _RENAME(key)
