"""Relational knowledge distillation (Park et al., CVPR 2019) as a FaceX distillation loss."""
