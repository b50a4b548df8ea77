"""Export a backbone to ONNX with a dynamic batch axis."""
from __future__ import annotations

import io
import os
import warnings
from typing import Any

import torch

from ..errors import NonFiniteError
from ..runtime.files import atomic_output


#: ONNX files hold at most 2 GiB inline (protobuf's limit); larger models keep weights in a sidecar.
_INLINE_LIMIT = 2**31 - 2**26


def export_onnx(model: torch.nn.Module, path: str | os.PathLike | io.BytesIO,
                input_size: tuple[int, int] | None = None, exporter: str = "dynamo", opset: int = 18) -> None:
    """Write ``model`` (eval mode) as ONNX: input ``images`` N×3×H×W, output ``embeddings`` N×D; weights
    with NaN or infinite values are refused before anything is written."""
    state = model.state_dict()
    bad = next((k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if bad is not None:
        raise NonFiniteError(f"the model's {bad} holds NaN or infinite values: exporting it would give a model "
                             "that embeds every face to NaN (check the checkpoint the weights came from)")
    inline = sum(v.numel() * v.element_size() for v in state.values()) < _INLINE_LIMIT
    if exporter not in ("dynamo", "legacy"):
        raise ValueError(f"exporter must be 'dynamo' or 'legacy', got {exporter!r}")
    if isinstance(path, io.BytesIO) or not inline:  # a sidecar is named after its file: write in place
        _export(model, path, input_size, exporter, opset, inline)
        return
    with atomic_output(path) as fh:
        fh.close()
        _export(model, fh.name, input_size, exporter, opset, inline)


def _export(model: torch.nn.Module, path: Any, input_size: tuple[int, int] | None, exporter: str, opset: int,
            inline: bool) -> None:
    size = input_size or getattr(model, "input_size", (112, 112))
    was_training = model.training
    model.eval()
    if exporter == "dynamo":
        batch_axis = dict(dynamo=True, external_data=not inline, verbose=False,
                          dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},))
    else:
        batch_axis = dict(dynamo=False, dynamic_axes={"images": {0: "batch"}, "embeddings": {0: "batch"}})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (torch.randn(2, 3, *size),), path, opset_version=opset,
                              input_names=["images"], output_names=["embeddings"], **batch_axis)
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
