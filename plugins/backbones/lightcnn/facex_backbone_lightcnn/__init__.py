"""FaceX backbone plugin: LightCNN (Wu et al. 2018), Max-Feature-Map networks of 29 and 9 layers.

Components ``backbone/lightcnn29`` and ``backbone/lightcnn9``. Registration
(:mod:`facex_backbone_lightcnn.plugin`) is light; the network lives in
:mod:`facex_backbone_lightcnn.lightcnn` and is imported only when built.
"""
