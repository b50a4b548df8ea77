"""FSP-matrix distillation (Yim et al., CVPR 2017) as a FaceX distillation loss."""
