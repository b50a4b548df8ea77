"""FaceX backbone plugin: FaceX-Zoo's ResNet IR / IR-SE (Deng et al. 2019, InsightFace_Pytorch layout).

Components: ``backbone/resnet50_ir``, ``resnet50_irse``, ``resnet100_ir``, ``resnet100_irse``,
``resnet152_ir`` and ``resnet152_irse``. The registration module (:mod:`facex_backbone_resnet.plugin`)
is light; the network lives in :mod:`facex_backbone_resnet.resnet` and is imported only when built.
"""
