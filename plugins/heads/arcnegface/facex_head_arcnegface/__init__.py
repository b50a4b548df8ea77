"""ArcNegFace head for FaceX (ArcFace target, Gaussian-reweighted negatives, Liu et al. 2019)."""
