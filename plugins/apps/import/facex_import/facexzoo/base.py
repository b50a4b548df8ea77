"""What every FaceX-Zoo importer shares: its checkpoint layout, its input convention and its heads.

FaceX-Zoo's ``training_mode/*/train.py`` saves ``{'state_dict': model.module.state_dict(), 'epoch',
'batch_id'}`` where the model is ``FaceModel(backbone, head)``: keys ``backbone.*`` and ``head.*``
(``module.`` in front when the model was saved still wrapped in ``DataParallel``; ``feat_net.`` in the
older scripts' layout). A plain ``backbone.state_dict()`` is read too. Input: BGR crops,
``(x - 127.5) / 128``, 112×112 or the upper-half face (top 60 rows, ``out_h: 4``).
"""
from __future__ import annotations

from typing import Any, ClassVar

import torch

from facex_core import DataError

from ..importer import WeightsImporter
from ..mapping import shape_text, split_prefixes, strip_wrapper
from ..sources import Source
from .configs import UPPER_HALF

#: Prefixes of the backbone's tensors in a FaceX-Zoo model's state dict, in order of preference.
BACKBONE_PREFIXES = ("backbone.", "feat_net.")
HEAD_PREFIX = "head."
#: FaceX-Zoo's input convention (``test_protocol``'s CommonTestDataset, the SDK's recognizer).
CONVENTION = {"channels": "BGR", "mean": 127.5, "std": 128.0}
#: Class-centre tensors of FaceX-Zoo's heads: name -> whether it is stored classes-first (C×D).
#: ``weight``/``kernel`` are D×C (AM-Softmax, ArcFace, MV-Softmax, MagFace, CircleLoss, NPCFace;
#: AdaM-Softmax, CurricularFace), AdaCos's ``W`` is C×D.
HEAD_CENTRES = {"weight": False, "kernel": False, "W": True}


def output_layer(*names: tuple[int, str]) -> list[tuple[str, str]]:
    """Rules renaming FaceX-Zoo's ``output_layer.<index>`` Sequential entries to the names of the
    core's ``FlattenEmbedding`` (``bn``, ``linear``, ``bn_out``)."""
    return [(rf"output_layer\.{index}\.", f"output_layer.{name}.") for index, name in names]


class FaceXZooImporter(WeightsImporter):
    """Base of the FaceX-Zoo importers; subclasses give the FaceX component and the key renames."""

    framework = "facexzoo"
    #: The FaceX-Zoo backbone type (backbone_conf.yaml section) the importer reads.
    zoo_type: ClassVar[str] = ""

    @property
    def upper_half(self) -> bool:
        return getattr(self.config, "out_h", 7) == UPPER_HALF

    def input_size(self) -> list[int]:
        """FaceX input size of the FaceX-Zoo model: 112×112, or 60×112 for the upper-half face."""
        return [60, 112] if self.upper_half else [112, 112]

    def convention(self) -> dict[str, Any]:
        return {**CONVENTION, "crop_eye": self.upper_half}

    def backbone_state(self, source: Source) -> dict[str, torch.Tensor]:
        state = strip_wrapper(source.state)
        parts, rest = split_prefixes(state, (*BACKBONE_PREFIXES, HEAD_PREFIX))
        for prefix in BACKBONE_PREFIXES:
            if parts[prefix]:
                return parts[prefix]
        if parts[HEAD_PREFIX] and not rest:
            raise DataError(f"{source.name}: holds only head.* tensors (a head, no backbone)")
        return rest

    def head_centres(self, source: Source, embedding_size: int) -> tuple[torch.Tensor, str]:
        """The class centres of the head saved with the model, as FaceX heads hold them (C×D)."""
        parts, _ = split_prefixes(strip_wrapper(source.state), (HEAD_PREFIX,))
        head = parts[HEAD_PREFIX]
        if not head:
            raise DataError(f"{source.name}: holds no head.* tensors (a backbone-only state dict); drop --with-head")
        found = [(k, v) for k, v in head.items() if k in HEAD_CENTRES and v.ndim == 2]
        if not found:
            keys = ", ".join(f"head.{k} {shape_text(v)}" for k, v in head.items())
            raise DataError(f"{source.name}: no class centres among the head's tensors ({keys}); FaceX-Zoo's "
                            "SST_Prototype head keeps a queue of features, not class centres")
        key, centres = found[0]
        rows_first = HEAD_CENTRES[key]
        if centres.shape[0] != embedding_size and centres.shape[1] == embedding_size:
            rows_first = True
        elif centres.shape[1] != embedding_size and centres.shape[0] == embedding_size:
            rows_first = False
        elif embedding_size not in centres.shape:
            raise DataError(f"{source.name}: head.{key} {shape_text(centres)} does not fit {embedding_size}-d "
                            "embeddings")
        centres = centres if rows_first else centres.t()
        return centres.detach().float().contiguous(), f"head.{key}"
