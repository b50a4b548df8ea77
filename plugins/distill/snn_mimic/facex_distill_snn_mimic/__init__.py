"""SNN-MIMIC logit regression (Ba & Caruana, NeurIPS 2014) as a FaceX distillation loss."""
