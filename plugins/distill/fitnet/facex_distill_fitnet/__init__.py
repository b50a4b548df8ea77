"""FitNets hint loss (Romero et al., ICLR 2015) as a FaceX distillation loss."""
