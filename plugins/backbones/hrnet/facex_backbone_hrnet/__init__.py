"""FaceX backbone plugin: HRNet-W18 (Wang et al. 2020) in FaceX-Zoo's face-recognition layout.

Component ``backbone/hrnet_w18``. Registration (:mod:`facex_backbone_hrnet.plugin`) is light; the
network lives in :mod:`facex_backbone_hrnet.hrnet` and is imported only when built.
"""
