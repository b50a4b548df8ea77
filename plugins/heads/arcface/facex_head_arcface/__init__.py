"""ArcFace head for FaceX (additive angular margin, Deng et al., CVPR 2019)."""
