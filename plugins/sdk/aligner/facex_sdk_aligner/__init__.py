"""5-point similarity alignment to the ArcFace template for FaceX (FaceX-Zoo's SDK cropper).

Importing this package stays light; the geometry lives in :mod:`facex_sdk_aligner.align`.
"""
