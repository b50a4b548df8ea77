"""FaceX plugin: the IJB-B / IJB-C protocols (``protocol/ijbb``, ``ijbc``, ``ijbb_1n``, ``ijbc_1n``).

Registration lives in :mod:`facex_protocol_ijb.plugin` (light, imported at discovery). The meta-file
readers are in :mod:`.meta`, template pooling and pair scoring in :mod:`.templates`, the metrics in
:mod:`.metrics` and the protocols in :mod:`.protocol`.
"""
