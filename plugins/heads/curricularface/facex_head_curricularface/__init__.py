"""CurricularFace head for FaceX (adaptive curriculum learning loss, Huang et al., CVPR 2020)."""
