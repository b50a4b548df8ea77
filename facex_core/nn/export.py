"""Export a backbone to ONNX with a dynamic batch axis."""
from __future__ import annotations

import io
import os
import warnings

import torch


def export_onnx(model: torch.nn.Module, path: str | os.PathLike | io.BytesIO,
                input_size: tuple[int, int] | None = None, exporter: str = "dynamo", opset: int = 18) -> None:
    """Write ``model`` (eval mode) as ONNX: input ``images`` N×3×H×W, output ``embeddings`` N×D.

    ``exporter='dynamo'`` uses torch.export (the current exporter); ``'legacy'`` the TorchScript one
    (faster to run, kept for models torch.export cannot capture).
    """
    size = input_size or getattr(model, "input_size", (112, 112))
    was_training = model.training
    model.eval()
    example = (torch.randn(2, 3, *size),)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if exporter == "dynamo":
                torch.onnx.export(model, example, path, dynamo=True, opset_version=opset,
                                  input_names=["images"], output_names=["embeddings"],
                                  dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},),
                                  verbose=False)
            elif exporter == "legacy":
                torch.onnx.export(model, example, path, dynamo=False, opset_version=opset,
                                  input_names=["images"], output_names=["embeddings"],
                                  dynamic_axes={"images": {0: "batch"}, "embeddings": {0: "batch"}})
            else:
                raise ValueError(f"exporter must be 'dynamo' or 'legacy', got {exporter!r}")
    finally:
        model.train(was_training)
