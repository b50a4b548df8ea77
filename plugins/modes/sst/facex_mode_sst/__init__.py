"""Semi-Siamese Training (Du et al., ECCV 2020) as a FaceX training mode."""
