"""ElasticFace heads for FaceX (random normal margins, Boutros et al., CVPRW 2022)."""
