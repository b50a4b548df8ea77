"""FaceX-Zoo ``ReXNet`` (``backbone/ReXNets.py``, after clovaai/rexnet) → FaceX ``rexnet_1_0``.

FaceX-Zoo keeps everything in one Sequential ``features``: the stem conv/BN at ``0``/``1``, the
blocks at ``3 .. 3+N-1`` (each an ``out`` Sequential), the last conv/BN at ``3+N``/``4+N``. Inside a
block the position of each layer depends on whether it expands (not the first) and has SE, so the
block plan is rebuilt from the config (stage sizes 1,2,2,3,3,5 times ``depth_mult``, SE in stages
3-6 when ``use_se``). The SE's ``fc.0/1/3`` are ``reduce``, its BatchNorm ``act.0`` and ``expand``;
the output layer's ``0/3/4`` are ``bn/linear/bn_out``.
"""
from __future__ import annotations

import math
import re
from typing import Any

from ..mapping import renamer
from .base import FaceXZooImporter, output_layer

STAGE_BLOCKS = (1, 2, 2, 3, 3, 5)
STAGE_SE = (False, False, True, True, True, True)

_FEATURE = re.compile(r"features\.(\d+)\.(.*)")
_SE = renamer((r"fc\.0\.", "reduce."), (r"fc\.1\.", "act.0."), (r"fc\.3\.", "expand."))
_TOP = renamer(*output_layer((0, "bn"), (3, "linear"), (4, "bn_out")))


def block_layout(expands: bool, se: bool) -> dict[int, str]:
    """FaceX name of each ``out.<i>`` entry of a FaceX-Zoo LinearBottleneck that holds weights."""
    roles = (["expand.conv", "expand.bn", None] if expands else []) + ["depthwise.conv", "depthwise.bn"]
    roles += (["se"] if se else []) + [None, "project.conv", "project.bn"]  # None: activations
    return {i: role for i, role in enumerate(roles) if role is not None}


class ReXNetImporter(FaceXZooImporter):
    zoo_type = "ReXNet"

    def blocks(self) -> list[tuple[bool, bool]]:
        """``(expands, has SE)`` of every block, in order."""
        c = self.config
        depths = [math.ceil(n * c.depth_mult) for n in STAGE_BLOCKS]
        return [(stage > 0, bool(c.use_se) and STAGE_SE[stage]) for stage, n in enumerate(depths) for _ in range(n)]

    def backbone_table(self) -> dict[str, Any]:
        c = self.config
        return {"name": "rexnet_1_0", "input_ch": c.input_ch, "final_ch": c.final_ch, "width_mult": c.width_mult,
                "depth_mult": c.depth_mult, "use_se": bool(c.use_se), "se_ratio": c.se_ratio,
                "dropout_ratio": c.dropout_ratio, "embedding_size": c.feat_dim, "input_size": self.input_size()}

    def rename(self, key: str) -> str | None:
        match = _FEATURE.fullmatch(key)
        if match is None:
            return _TOP(key)
        index, rest = int(match.group(1)), match.group(2)
        plan = self.blocks()
        if index in (0, 1):
            return f"stem.{'conv' if index == 0 else 'bn'}.{rest}"
        if index in (3 + len(plan), 4 + len(plan)):
            return f"final.{'conv' if index == 3 + len(plan) else 'bn'}.{rest}"
        block = index - 3
        inner = re.fullmatch(r"out\.(\d+)\.(.*)", rest)
        if not 0 <= block < len(plan) or inner is None:
            return key  # not this ReXNet's layout: left for the strict check to name
        role = block_layout(*plan[block]).get(int(inner.group(1)))
        if role is None:
            return key
        tail = _SE(inner.group(2)) if role == "se" else inner.group(2)
        return f"blocks.{block}.{role}.{tail}"
