"""FaceX backbone plugin: the face Vision Transformers of InsightFace ``arcface_torch``.

Components: ``backbone/vit_t``, ``backbone/vit_s`` and ``backbone/vit_b``. The registration module
(:mod:`facex_backbone_vit.plugin`) is light; the network lives in :mod:`facex_backbone_vit.vit` and
is imported only when built.
"""
