"""FaceX backbone plugin: Swin Transformer (Liu et al. 2021) as FaceX-Zoo uses it for faces.

Components: ``backbone/swin_t`` and ``backbone/swin_s``. The registration module
(:mod:`facex_backbone_swin.plugin`) is light; the network lives in :mod:`facex_backbone_swin.swin`
(window geometry in :mod:`facex_backbone_swin.windows`) and is imported only when built.
"""
