"""MagFace head for FaceX (magnitude-aware margin and regulariser, Meng et al., CVPR 2021)."""
