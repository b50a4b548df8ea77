"""Face recognizers for the FaceX SDK: a FaceX training checkpoint (PyTorch) or its ONNX export.

Importing this package stays light; the recognizers load on build (:mod:`facex_sdk_recognizer.recognizer`).
"""
