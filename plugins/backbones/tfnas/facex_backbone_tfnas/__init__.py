"""FaceX backbone plugin: TF-NAS-A (Hu, Wu, He, ECCV 2020) in FaceX-Zoo's face layout.

Component: ``backbone/tfnas_a``. The registration module (:mod:`facex_backbone_tfnas.plugin`) is
light; the network lives in :mod:`facex_backbone_tfnas.tfnas` and is imported only when built.
"""
