"""CircleLoss head for FaceX (classification form, Sun et al., CVPR 2020)."""
