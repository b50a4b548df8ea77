"""AdaM-Softmax head for FaceX (AdaptiveFace's learnable per-class margins, Liu et al., CVPR 2019)."""
