"""FaceX backbone plugin: InsightFace's ``arcface_torch`` IResNet, state-dict compatible with its releases.

Components: ``backbone/iresnet18``, ``iresnet34``, ``iresnet50``, ``iresnet100`` and ``iresnet200``.
The registration module (:mod:`facex_backbone_iresnet.plugin`) is light; the network lives in
:mod:`facex_backbone_iresnet.iresnet` and is imported only when built.
"""
