"""FaceX plugin: InsightFace ``.bin`` verification sets (``protocol/bin`` and ``bin_lfw``, ...).

Registration lives in :mod:`facex_protocol_bin.plugin` (light, imported at discovery); the safe
reader is :mod:`.binfile`, the image cache :mod:`.cache` and the protocol :mod:`.protocol`.
"""
