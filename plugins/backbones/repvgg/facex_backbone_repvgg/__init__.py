"""FaceX backbone plugin: RepVGG (Ding et al., CVPR 2021) in FaceX-Zoo's face layout.

Components: ``backbone/repvgg_a0``, ``backbone/repvgg_b0`` and ``backbone/repvgg_b1``. The
registration module (:mod:`facex_backbone_repvgg.plugin`) is light; the network, with its
train-to-deploy re-parameterisation, lives in :mod:`facex_backbone_repvgg.repvgg` and is imported
only when built.
"""
