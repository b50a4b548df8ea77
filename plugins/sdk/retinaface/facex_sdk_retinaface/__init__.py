"""FaceX-Zoo's SDK face detector (RetinaFace with a MobileNet-0.25 trunk) for FaceX.

Importing this package stays light; the network and the detector load on build
(:mod:`facex_sdk_retinaface.detector`).
"""
