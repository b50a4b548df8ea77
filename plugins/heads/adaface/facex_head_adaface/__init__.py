"""AdaFace head for FaceX (feature-norm adaptive margin, Kim et al., CVPR 2022)."""
