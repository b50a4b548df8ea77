"""FaceX backbone plugin: GhostNet (Han et al. 2020) in FaceX-Zoo's 112×112 face layout, at any width.

Component: ``backbone/ghostnet``. The registration module (:mod:`facex_backbone_ghostnet.plugin`) is
light; the network lives in :mod:`facex_backbone_ghostnet.ghostnet` and is imported only when built.
"""
