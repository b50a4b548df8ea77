"""FaceX backbone plugin: Residual Attention Network (Wang et al. 2017), Attention-56 and -92.

Components ``backbone/attention56`` and ``backbone/attention92``. Registration
(:mod:`facex_backbone_attention.plugin`) is light; the network lives in
:mod:`facex_backbone_attention.attention` and is imported only when built.
"""
