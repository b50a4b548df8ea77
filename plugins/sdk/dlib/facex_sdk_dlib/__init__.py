"""dlib's face detectors, shape predictors, face chips and ResNet recognizer as FaceX SDK components.

Importing this package stays light; dlib is imported by the component modules
(:mod:`.detector`, :mod:`.landmarker`, :mod:`.chip`, :mod:`.recognizer`) when a component is built.
"""
