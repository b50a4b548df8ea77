"""AM-Softmax / CosFace head for FaceX (additive cosine margin, Wang et al. 2018)."""
