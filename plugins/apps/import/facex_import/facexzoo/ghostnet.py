"""FaceX-Zoo ``GhostNet`` (``backbone/GhostNet.py``, after huawei-noah/ghostnet) → FaceX ``ghostnet``.

FaceX-Zoo nests its 16 ghost bottlenecks in 9 stage Sequentials (``blocks.<stage>.<i>``) followed by
the final 1×1 conv-BN-ReLU as ``blocks.9.0``; FaceX numbers the bottlenecks flat and names the final
layer ``final``. Inside a bottleneck: ``ghost1``/``ghost2`` → ``expand``/``project`` with
``primary_conv.0/1`` → ``primary.conv/bn`` and ``cheap_operation.0/1`` → ``cheap.conv/bn``;
``conv_dw``/``bn_dw`` → ``depthwise.conv/bn``; the SE's ``conv_reduce``/``conv_expand`` →
``reduce``/``expand``; the shortcut's ``0..3`` → ``0.conv, 0.bn, 1.conv, 1.bn``. Stem
``conv_stem``/``bn1`` → ``stem.conv/bn``; output layer ``0/3/4`` → ``bn/linear/bn_out``.
"""
from __future__ import annotations

import re
from itertools import accumulate
from typing import Any

from ..mapping import renamer
from .base import FaceXZooImporter, output_layer

#: Bottlenecks per FaceX-Zoo stage Sequential (its ``cfgs``); the next stage holds the final conv.
STAGE_LENGTHS = (1, 1, 1, 1, 1, 1, 5, 1, 4)
_STARTS = (0, *accumulate(STAGE_LENGTHS))

_INSIDE = renamer(
    (r"ghost1\.", "expand."), (r"ghost2\.", "project."),
    (r"conv_dw\.", "depthwise.conv."), (r"bn_dw\.", "depthwise.bn."),
    (r"se\.conv_reduce\.", "se.reduce."), (r"se\.conv_expand\.", "se.expand."),
    (r"shortcut\.0\.", "shortcut.0.conv."), (r"shortcut\.1\.", "shortcut.0.bn."),
    (r"shortcut\.2\.", "shortcut.1.conv."), (r"shortcut\.3\.", "shortcut.1.bn."),
)
_GHOST = renamer((r"primary_conv\.0\.", "primary.conv."), (r"primary_conv\.1\.", "primary.bn."),
                 (r"cheap_operation\.0\.", "cheap.conv."), (r"cheap_operation\.1\.", "cheap.bn."))
_BLOCK = re.compile(r"blocks\.(\d+)\.(\d+)\.(.*)")
_FINAL = renamer((r"conv\.", "final.conv."), (r"bn1\.", "final.bn."))
_TOP = renamer((r"conv_stem\.", "stem.conv."), (r"bn1\.", "stem.bn."),
               *output_layer((0, "bn"), (3, "linear"), (4, "bn_out")))


def rename(key: str) -> str | None:
    match = _BLOCK.fullmatch(key)
    if match is None:
        return _TOP(key)
    stage, index, rest = int(match.group(1)), int(match.group(2)), match.group(3)
    if stage == len(STAGE_LENGTHS) and index == 0:  # the final ConvBnAct
        final = _FINAL(rest)
        return key if final == rest else final
    if stage > len(STAGE_LENGTHS) or index >= STAGE_LENGTHS[stage]:
        return key  # not GhostNet's layout: left for the strict check to name
    inside = _INSIDE(rest)
    head, _, tail = inside.partition(".")
    if head in ("expand", "project"):
        inside = f"{head}.{_GHOST(tail)}"
    return f"blocks.{_STARTS[stage] + index}.{inside}"


class GhostNetImporter(FaceXZooImporter):
    zoo_type = "GhostNet"

    def backbone_table(self) -> dict[str, Any]:
        c = self.config
        return {"name": "ghostnet", "width": c.width, "drop_ratio": c.drop_ratio, "embedding_size": c.feat_dim,
                "input_size": self.input_size()}

    def rename(self, key: str) -> str | None:
        return rename(key)
