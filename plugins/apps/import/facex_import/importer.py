"""The ``weights_importer`` interface: what one source network is in FaceX terms, and how its tensors
map onto the FaceX backbone.

A ``weights_importer`` component is named ``<source>.<network>`` (``facexzoo.resnet``,
``insightface.r50``); its config holds the source's own description of the network (FaceX-Zoo's
``backbone_conf.yaml`` section, arcface_torch's ``get_model`` keywords); its factory is a
:class:`WeightsImporter` subclass. ``facex-core import <source> SRC --backbone <network>`` builds it
from that config and :func:`facex_import.pipeline.import_weights` asks it, in this order:

1. :meth:`~WeightsImporter.check` — refuse a configuration FaceX's network cannot reproduce;
2. :meth:`~WeightsImporter.backbone_table` and :meth:`~WeightsImporter.convention` — the FaceX
   ``[backbone]`` table and the ``[data]`` input convention of the source model;
3. for a PyTorch file :meth:`~WeightsImporter.backbone_state` (the backbone's tensors, prefixes
   removed), :meth:`~WeightsImporter.adapt` (refine the table from what the file holds) and
   :meth:`~WeightsImporter.map_state` (by default :meth:`~WeightsImporter.rename` per key, strictly
   checked); for an ONNX file :meth:`~WeightsImporter.map_onnx` (by graph structure);
4. with ``--with-head``, :meth:`~WeightsImporter.head_centres`.

A third-party backbone plugin ships an importer by subclassing this and declaring the component;
the shared mechanics (prefixes, strict fitting, BatchNorm folding) are in :mod:`facex_import.mapping`
and :mod:`facex_import.structural`.
"""
from __future__ import annotations

import abc
import re
from typing import Any, ClassVar, Mapping

import torch
from torch import nn

from facex_core import DataError

from .mapping import fit, rename_state, strip_wrapper
from .sources import TORCH, Source


class WeightsImporter(abc.ABC):
    """Maps one source network's weights onto a FaceX backbone; built from its config."""

    #: Framework recorded as the checkpoint's source (``facexzoo``, ``insightface``).
    framework: ClassVar[str] = ""
    #: Source formats the importer reads (:data:`facex_import.sources.TORCH`, ``ONNX``).
    formats: ClassVar[tuple[str, ...]] = (TORCH,)
    #: Source tensors the source network builds but never uses (patterns on the source key); they are
    #: dropped when the FaceX network has no place for them.
    unused_in_source: ClassVar[tuple[re.Pattern, ...]] = ()

    def __init__(self, config: Any) -> None:
        self.config = config

    # -- what the source network is ---------------------------------------------------------------
    def check(self) -> None:
        """Raise :class:`facex_core.ConfigError` for a configuration the FaceX network cannot
        reproduce (the import would not give the source's embeddings)."""

    @abc.abstractmethod
    def backbone_table(self) -> dict[str, Any]:
        """The FaceX ``[backbone]`` table (``name`` plus config fields) of the source network."""

    @abc.abstractmethod
    def convention(self) -> dict[str, Any]:
        """The source's input convention as ``[data]`` keys: ``channels``, ``mean``, ``std``, ``crop_eye``."""

    # -- PyTorch files --------------------------------------------------------------------------
    def backbone_state(self, source: Source) -> dict[str, torch.Tensor]:
        """The backbone's tensors in the source's own names (wrapper prefix removed)."""
        return strip_wrapper(source.state)

    def adapt(self, table: dict[str, Any], state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
        """The table refined from what the file holds (e.g. a fused RepVGG); unchanged by default."""
        return table

    def rename(self, key: str) -> str | None:
        """The FaceX key of source key ``key`` (``None``: a tensor FaceX does not keep); identity by default."""
        return key

    def map_state(self, state: Mapping[str, torch.Tensor], backbone: nn.Module, *, source: str,
                  network: str) -> dict[str, torch.Tensor]:
        """The FaceX state dict of ``backbone`` from the source ``state``: renamed, strictly fitted."""
        mapped = rename_state(state, self.rename, source)
        target = backbone.state_dict()
        if self.unused_in_source:
            mapped = {k: v for k, v in mapped.items()
                      if k in target or not any(p.search(v[0]) for p in self.unused_in_source)}
        return fit(target, mapped, source=source, network=network)

    # -- ONNX files ---------------------------------------------------------------------------------
    def map_onnx(self, graph: Any, backbone: nn.Module, *, network: str, skip: set[int]) -> dict[str, torch.Tensor]:
        """The FaceX state dict of ``backbone`` from an ONNX graph, by structure."""
        from .structural import map_graph

        return map_graph(graph, backbone, network, skip)

    # -- heads ----------------------------------------------------------------------------------
    def head_centres(self, source: Source, embedding_size: int) -> tuple[torch.Tensor, str]:
        """``(C×D class centres, source key)`` of the head stored with the backbone (``--with-head``)."""
        raise DataError(f"{source.name}: {self.framework} files of this kind hold no head (no class centres to "
                        "import); drop --with-head")
