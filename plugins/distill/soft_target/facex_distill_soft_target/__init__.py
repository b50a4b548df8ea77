"""Soft-target knowledge distillation (Hinton et al. 2015) as a FaceX distillation loss."""
