"""Conventional training for FaceX: backbone + classification head, cross-entropy, SGD."""
