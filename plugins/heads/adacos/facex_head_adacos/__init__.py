"""AdaCos head for FaceX (adaptively scaled cosine logits, Zhang et al., CVPR 2019)."""
