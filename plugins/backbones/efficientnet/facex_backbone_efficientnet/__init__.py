"""FaceX backbone plugin: EfficientNet-B0 … B7 (Tan & Le 2019) in FaceX-Zoo's 112×112 face layout.

Components: ``backbone/efficientnet_b0`` … ``backbone/efficientnet_b7``. The registration module
(:mod:`facex_backbone_efficientnet.plugin`) is light; the network lives in
:mod:`facex_backbone_efficientnet.efficientnet` and is imported only when built.
"""
