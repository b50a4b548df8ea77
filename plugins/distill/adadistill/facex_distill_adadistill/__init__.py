"""AdaDistill adaptive face distillation (Boutros et al., ECCV 2024) as a FaceX distillation loss."""
