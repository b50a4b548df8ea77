"""FaceX plugin: the LFW 10-fold verification protocol (``protocol/lfw``).

Registration lives in :mod:`facex_protocol_lfw.plugin` (light, imported at discovery); the pairs
parser is :mod:`facex_protocol_lfw.pairs` and the protocol itself :mod:`facex_protocol_lfw.protocol`.
"""
