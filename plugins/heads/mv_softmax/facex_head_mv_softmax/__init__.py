"""MV-Softmax head for FaceX (mis-classified vector guided softmax, Wang et al., AAAI 2020)."""
