"""Importers of InsightFace ``arcface_torch`` networks: IResNet, MBF and ViT (light package)."""
