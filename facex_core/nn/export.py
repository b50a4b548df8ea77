"""Export a backbone to ONNX with a dynamic batch axis."""
from __future__ import annotations

import io
import logging
import os
import warnings
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import DataError, NonFiniteError
from ..runtime.files import atomic_output

if TYPE_CHECKING:  # torch is imported where it runs: onnx_convention stays torch-free for the ONNX recognizer
    import numpy as np
    import torch


#: ONNX files hold at most 2 GiB inline (protobuf's limit); larger models keep weights in a sidecar.
_INLINE_LIMIT = 2**31 - 2**26


def export_onnx(model: torch.nn.Module, path: str | os.PathLike | io.BytesIO,
                input_size: tuple[int, int] | None = None, exporter: str = "dynamo", opset: int = 18,
                preprocess: Any = None) -> None:
    """Write ``model`` (eval mode) as ONNX: input ``images`` N×3×H×W, output ``embeddings`` N×D (NaN/inf weights
    refused first); ``preprocess`` (a :class:`Preprocess`) goes in ``facex.*`` metadata for :func:`onnx_convention`."""
    import torch

    state = model.state_dict()
    bad = next((k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if bad is not None:
        raise NonFiniteError(f"the model's {bad} holds NaN or infinite values: exporting it would give a model "
                             "that embeds every face to NaN (check the checkpoint the weights came from)")
    inline = sum(v.numel() * v.element_size() for v in state.values()) < _INLINE_LIMIT
    if exporter not in ("dynamo", "legacy"):
        raise ValueError(f"exporter must be 'dynamo' or 'legacy', got {exporter!r}")
    if isinstance(path, io.BytesIO) or not inline:  # a sidecar is named after its file: write in place
        _export(model, path, input_size, exporter, opset, inline, preprocess)
        return
    with atomic_output(path) as fh:
        fh.close()
        _export(model, fh.name, input_size, exporter, opset, inline, preprocess)


def _export(model: torch.nn.Module, path: Any, input_size: tuple[int, int] | None, exporter: str, opset: int,
            inline: bool, preprocess: Any) -> None:
    import torch

    size = input_size or getattr(model, "input_size", (112, 112))
    was_training = model.training
    model.eval()
    if exporter == "dynamo":
        batch_axis = dict(dynamo=True, external_data=not inline, verbose=False,
                          dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},))
    else:
        batch_axis = dict(dynamo=False, dynamic_axes={"images": {0: "batch"}, "embeddings": {0: "batch"}})
    # torchvision is no dependency: its "not installed, skipping torchvision::nms" notes say nothing to users
    notes = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = notes.level
    notes.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(action="ignore"):
            torch.onnx.export(model, (torch.randn(2, 3, *size),), path, opset_version=opset,
                              input_names=["images"], output_names=["embeddings"], **batch_axis)
    finally:
        model.train(was_training)
        notes.setLevel(level)
    if preprocess is not None:
        import onnx

        buffer = isinstance(path, io.BytesIO)
        proto = onnx.load_from_string(path.getvalue()) if buffer else onnx.load(path, load_external_data=False)
        for key in _META:
            proto.metadata_props.add(key=f"facex.{key}", value=str(getattr(preprocess, key)))
        if buffer:
            path.seek(0)
            path.truncate()
        onnx.save(proto, path)


#: The :class:`Preprocess` fields :func:`export_onnx` stores as ``facex.<field>`` metadata.
_META = ("channels", "mean", "std", "crop_eye")


def onnx_convention(model: str | os.PathLike | bytes) -> dict[str, Any]:
    """The input convention an ONNX face model expects: ``channels``, ``mean``, ``std``, ``crop_eye`` and
    ``source`` (how it was found). In order: FaceX's ``facex.*`` metadata; a FaceX export without it (input
    ``images``, output ``embeddings``): FaceX-Zoo's BGR, (x − 127.5)/128; anything else gets InsightFace's
    ``ArcFaceONNX`` rule: RGB, (x − 127.5)/127.5, or mean 0 and std 1 when the first 8 nodes include one
    named ``Sub…``/``_minus…`` and one ``Mul…``/``_mul…`` (the graph normalises itself)."""
    import onnx

    proto = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(model, load_external_data=False)
    meta = {p.key[len("facex."):]: p.value for p in proto.metadata_props if p.key.startswith("facex.")}
    if set(_META) <= set(meta):
        return {"channels": meta["channels"], "mean": float(meta["mean"]), "std": float(meta["std"]),
                "crop_eye": meta["crop_eye"] == "True", "source": "FaceX export metadata"}
    weights = {t.name for t in proto.graph.initializer}
    names = ([i.name for i in proto.graph.input if i.name not in weights], [o.name for o in proto.graph.output])
    if names == (["images"], ["embeddings"]):
        return {"channels": "BGR", "mean": 127.5, "std": 128.0, "crop_eye": False,
                "source": "FaceX export without metadata: FaceX-Zoo's convention"}
    first = [node.name for node in proto.graph.node[:8]]
    inside = any(n.startswith(("Sub", "_minus")) for n in first) and any(n.startswith(("Mul", "_mul")) for n in first)
    return {"channels": "RGB", "mean": 0.0 if inside else 127.5, "std": 1.0 if inside else 127.5, "crop_eye": False,
            "source": "InsightFace's rule" + (" (the graph subtracts and scales itself)" if inside else "")}


class OnnxFaceModel:
    """An ONNX face model (a file or its bytes) in onnxruntime: one N×3×H×W input, N×D embeddings out. ``input_size``
    is the model's own where its graph fixes it (else ``default_size``); a static-batch export runs in padded slices."""

    def __init__(self, path: str | os.PathLike | bytes, providers: Sequence[str] = ("CPUExecutionProvider",),
                 threads: int = 0, default_size: tuple[int, int] = (112, 112)) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        where = "<ONNX model bytes>" if isinstance(path, bytes) else os.fspath(path)
        self.session = ort.InferenceSession(path if isinstance(path, bytes) else where, sess_options=options,
                                            providers=list(providers))
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise DataError(f"{where}: expected one N×3×H×W input, got {[(i.name, i.shape) for i in inputs]}")
        self.input_name = inputs[0].name
        batch, channels, height, width = inputs[0].shape
        if isinstance(channels, int) and channels != 3:
            raise DataError(f"{where}: the model takes {channels} channels, not 3")
        static = isinstance(height, int) and isinstance(width, int)
        self.input_size = (height, width) if static else tuple(default_size)
        self.fixed_batch = batch if isinstance(batch, int) else None
        out = self.session.get_outputs()[0].shape
        self.embedding_size = out[1] if len(out) == 2 and isinstance(out[1], int) else None

    def run(self, batch: "np.ndarray") -> "np.ndarray":
        """Embeddings (N×D) of a float32 N×3×H×W batch."""
        import numpy as np

        if len(batch) == 0:
            return np.zeros((0, self.embedding_size or 0), np.float32)
        step = self.fixed_batch or len(batch)
        padded = np.concatenate([batch, np.zeros((-len(batch) % step, *batch.shape[1:]), batch.dtype)])
        try:
            out = [self.session.run(None, {self.input_name: padded[i:i + step]})[0] for i in range(0, len(padded), step)]
        except Exception:  # noqa: BLE001 - onnxruntime's errors have no common public base
            if step == 1:
                raise
            self.fixed_batch = 1  # a free batch axis declared, batch 1 built in (InsightFace's exports of ViTs)
            return self.run(batch)
        return np.concatenate(out)[:len(batch)]


def check_onnx(model: torch.nn.Module, onnx_model: str | os.PathLike | bytes, batch: int = 5, seed: int = 0) -> float:
    """Smallest cosine similarity between PyTorch's and onnxruntime's embeddings of ``batch`` random
    inputs (an export is right when it is at least 0.9999); raises ImportError without onnxruntime."""
    import numpy as np
    import torch

    size = getattr(model, "input_size", (112, 112))
    x = torch.randn(batch, 3, *size, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        ref = model.eval()(x).numpy()
    out = OnnxFaceModel(onnx_model).run(x.numpy())
    cos = (out * ref).sum(1) / np.maximum(np.linalg.norm(out, axis=1) * np.linalg.norm(ref, axis=1), 1e-12)
    return float(cos.min())
