"""SphereFace2 head for FaceX (one-vs-all binary classification, Wen et al., ICLR 2022)."""
