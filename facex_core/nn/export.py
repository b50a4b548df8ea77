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


def onnx_outputs(model: str | os.PathLike | bytes, images: torch.Tensor) -> "np.ndarray":
    """Run an ONNX model (a file or its bytes) on ``images`` with onnxruntime on the CPU."""
    import onnxruntime as ort

    source = model if isinstance(model, bytes) else os.fspath(model)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: images.detach().cpu().numpy()})
    return out


def check_onnx(model: torch.nn.Module, onnx_model: str | os.PathLike | bytes, batch: int = 5, seed: int = 0) -> float:
    """Smallest cosine similarity between PyTorch's and onnxruntime's embeddings of ``batch`` random
    inputs (an export is right when it is at least 0.9999); raises ImportError without onnxruntime."""
    import numpy as np

    size = getattr(model, "input_size", (112, 112))
    x = torch.randn(batch, 3, *size, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        ref = model.eval()(x).numpy()
    out = onnx_outputs(onnx_model, x)
    cos = (out * ref).sum(1) / np.maximum(np.linalg.norm(out, axis=1) * np.linalg.norm(ref, axis=1), 1e-12)
    return float(cos.min())
