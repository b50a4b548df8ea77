"""FaceX backbone plugin: MobileFaceNet (Chen et al. 2018, FaceX-Zoo layout) and InsightFace's wider MBF.

Components: ``backbone/mobilefacenet`` and ``backbone/mbf``. The registration module
(:mod:`facex_backbone_mobilefacenet.plugin`) is light; the network lives in
:mod:`facex_backbone_mobilefacenet.mobilefacenet` and is imported only when built.
"""
