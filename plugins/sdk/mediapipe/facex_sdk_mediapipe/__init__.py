"""MediaPipe face detection (BlazeFace) and FaceMesh landmarks for the FaceX SDK.

Importing this package stays light; mediapipe is imported by :mod:`facex_sdk_mediapipe._import`
when a component is first used.
"""
