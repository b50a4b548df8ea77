"""Registration of the TF-NAS backbone: its config class and the ``facex_components`` hook.

This module is imported at plugin discovery, so it must stay light: it never imports torch (the
network lives in :mod:`facex_backbone_tfnas.tfnas` and is loaded on build).

Only TF-NAS-A is registered. The TF-NAS authors publish B, C and D as trained checkpoints only
(AberHu/TF-NAS ``checkpoints/README.md`` lists their FLOPs and accuracy and links Google-Drive
folders); the searched per-block operations and widths are not written out anywhere in text, so
they cannot be rebuilt here from a citable source. FaceX-Zoo itself ships only A.
"""
from typing import ClassVar

from facex_core import Component, FlattenBackboneConfig, config, hookimpl, option

#: Stride-2 steps between the input and the last feature map (stages 1, 2, 3 and 5; the first
#: stem convolution keeps the resolution, unlike ImageNet TF-NAS). Every convolution pads
#: ``kernel // 2``, so a stride-2 block maps ``n`` to ``ceil(n / 2)``: 112 → 7 and 60 → 4.
NUM_HALVINGS = 4


@config
class TFNASConfig(FlattenBackboneConfig):
    """Hyper-parameters of TF-NAS-A (FaceX-Zoo ``backbone_conf.yaml`` section ``TF-NAS``)."""

    halvings: ClassVar[int] = NUM_HALVINGS

    dropout: float = option(
        0.2, ge=0, lt=1, doc="dropout probability before the flatten+linear output layer (FaceX-Zoo: drop_ratio)")


_FACTORY = "facex_backbone_tfnas.tfnas:TFNAS"
_PAPER = ("Y. Hu, X. Wu, R. He. TF-NAS: Rethinking Three Search Freedoms of Latency-Constrained "
          "Differentiable Neural Architecture Search. ECCV 2020 (arXiv:2008.05314); searched "
          "TF-NAS-A in the layout of FaceX-Zoo backbone/TF_NAS.py (stem stride 1, flatten+FC embedding)")


@hookimpl
def facex_components() -> list[Component]:
    return [
        Component(kind="backbone", name="tfnas_a", config=TFNASConfig, factory=_FACTORY,
                  summary="TF-NAS-A, FaceX-Zoo layout: 39.59M params, 0.49 GMACs at 112x112",
                  paper=_PAPER),
    ]
