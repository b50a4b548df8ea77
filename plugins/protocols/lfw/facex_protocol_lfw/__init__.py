"""FaceX plugin: the LFW-family 10-fold verification protocols (``protocol/lfw``, ``cplfw``,
``calfw``, ``agedb30``, ``rfw_*``, ``cfp_fp``, ``cfp_ff``).

Registration lives in :mod:`facex_protocol_lfw.plugin` (light, imported at discovery); the parsers of
the official files are :mod:`.pairs` (CPLFW, CALFW; LFW and RFW through ``facex_core.read_lfw_pairs``), :mod:`.agedb` (with the MAT-file
reader :mod:`.matfile`) and :mod:`.cfp`; the shared protocol is :mod:`facex_protocol_lfw.protocol`.
"""
