"""FaceX backbone plugin: ResNeSt (Zhang et al. 2020) split-attention networks in FaceX-Zoo's face layout.

Components: ``backbone/resnest50`` and ``backbone/resnest101``. The registration module
(:mod:`facex_backbone_resnest.plugin`) is light; the network lives in
:mod:`facex_backbone_resnest.resnest` and is imported only when built.
"""
