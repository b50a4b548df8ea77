"""Neuron selectivity transfer (Huang & Wang 2017) as a FaceX distillation loss."""
