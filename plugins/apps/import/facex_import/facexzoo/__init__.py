"""Importers of FaceX-Zoo backbones: one module per ``backbone_conf.yaml`` type (light package)."""
