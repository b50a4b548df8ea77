"""FaceX backbone plugin: ReXNet (Han et al. 2021) in FaceX-Zoo's 112×112 face layout.

Component: ``backbone/rexnet_1_0``. The registration module (:mod:`facex_backbone_rexnet.plugin`) is
light; the network lives in :mod:`facex_backbone_rexnet.rexnet` and is imported only when built.
"""
