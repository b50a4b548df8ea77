"""Probabilistic knowledge transfer (Passalis & Tefas, ECCV 2018) as a FaceX distillation loss."""
