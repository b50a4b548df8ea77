"""FaceX plugin: the MegaFace protocols (``protocol/megaface`` and ``protocol/megaface_mask``).

Registration lives in :mod:`facex_protocol_megaface.plugin` (light, imported at discovery). The
devkit and noise-list readers are in :mod:`.lists`, noise cleaning in :mod:`.noise`, the streaming
search in :mod:`.search`, the metrics in :mod:`.metrics` and the protocols in :mod:`.protocol`.
"""
