"""Factor-transfer loss (Kim et al., NeurIPS 2018) as a FaceX distillation loss."""
