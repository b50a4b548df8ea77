"""The interface contracts every backbone, head and protocol must meet."""
from __future__ import annotations

import io
from typing import Any

import numpy as np
import torch

from ..interfaces.backbone import Backbone
from ..interfaces.head import Head, HeadOutput
from ..interfaces.protocol import Protocol, ProtocolResult
from ..nn.export import OnnxFaceModel, export_onnx


def check_backbone(backbone: Any, batch: int = 2) -> None:
    """A backbone maps ``batch×3×H×W`` to ``batch×D`` finite embeddings, trains and evaluates."""
    assert isinstance(backbone, Backbone), f"{type(backbone).__name__} does not subclass facex_core.Backbone"
    x = torch.randn(batch, 3, *backbone.input_size, requires_grad=True)
    backbone.train()
    out = backbone(x)
    assert out.shape == (batch, backbone.embedding_size), \
        f"expected {(batch, backbone.embedding_size)}, got {tuple(out.shape)}"
    assert torch.isfinite(out).all(), "non-finite embedding in train mode"
    out.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0, \
        "gradient does not reach the input"
    missing = [n for n, p in backbone.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without gradient: {missing[:5]}"
    backbone.eval()
    with torch.no_grad():
        e1, e2 = backbone(x.detach()), backbone(x.detach())
    assert torch.isfinite(e1).all(), "non-finite embedding in eval mode"
    assert torch.equal(e1, e2), "eval mode is not deterministic"
    assert not backbone.training


def check_backbone_stages(backbone: Any, expected: dict[str, tuple[int, ...]]) -> None:
    """``stages()`` names exactly ``expected`` (name → per-sample output shape) in forward order, and one
    ``forward_taps`` pass returns those shapes and the embeddings of ``forward``."""
    backbone.eval()
    stages = backbone.stages()
    assert list(stages) == list(expected), f"stages {list(stages)}, expected {list(expected)}"
    fired: list[str] = []
    hooks = [m.register_forward_hook(lambda *_a, name=name: fired.append(name)) for name, m in stages.items()]
    x = backbone.example_input(2)
    try:
        with torch.no_grad():
            embeddings, maps = backbone.forward_taps(x, list(expected))
    finally:
        for hook in hooks:
            hook.remove()
    assert fired == list(expected), f"stages are not in forward order: {fired}"
    assert {k: tuple(v.shape) for k, v in maps.items()} == {k: (2, *shape) for k, shape in expected.items()}
    with torch.no_grad():
        assert torch.equal(embeddings, backbone(x)), "forward_taps changes the embeddings"
    try:
        backbone.forward_taps(x, ["no-such-stage"])
    except ValueError as err:
        assert "no stage" in str(err)
    else:
        raise AssertionError("forward_taps accepted an unknown stage name")


def check_head(head: Any, batch: int = 4) -> None:
    """A head gives a finite loss whose gradients reach the embeddings and the class centres."""
    assert isinstance(head, Head), f"{type(head).__name__} does not subclass facex_core.Head"
    assert head.weight.shape[0] == head.num_classes and head.weight.shape[-1] == head.embedding_size
    head.train()
    emb = torch.randn(batch, head.embedding_size, requires_grad=True)
    labels = torch.randint(0, head.num_classes, (batch,), dtype=torch.int64)
    out = head(emb, labels)
    assert isinstance(out, HeadOutput)
    assert out.logits.shape[0] == batch
    loss = out.total_loss
    assert loss.dim() == 0 and torch.isfinite(loss), f"loss {loss} is not a finite scalar"
    loss.backward()
    assert emb.grad is not None and torch.isfinite(emb.grad).all() and emb.grad.abs().sum() > 0, \
        "gradient does not reach the embeddings"
    assert head.weight.grad is not None and torch.isfinite(head.weight.grad).all() \
        and head.weight.grad.abs().sum() > 0, "gradient does not reach the class centres"
    for bad in (labels.to(torch.int32), torch.full((batch,), head.num_classes, dtype=torch.int64)):
        try:
            head(emb.detach(), bad)
        except (TypeError, ValueError):
            continue
        raise AssertionError(f"labels {bad.dtype} {bad.tolist()} were accepted silently")


def check_protocol(protocol: Any, seed: int = 0) -> None:
    """A protocol lists images and turns unit features for them into finite metrics."""
    assert isinstance(protocol, Protocol), f"{type(protocol).__name__} does not subclass facex_core.Protocol"
    paths = protocol.images()
    assert paths and all(isinstance(p, str) for p in paths), "images() must return relative path strings"
    rng = np.random.default_rng(seed)
    feats = rng.standard_normal((len(paths), 16)).astype(np.float32)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    result = protocol.evaluate(dict(zip(paths, feats)))
    assert isinstance(result, ProtocolResult)
    assert result.primary in result.metrics, f"primary metric {result.primary!r} missing"
    assert all(np.isfinite(v) for v in result.metrics.values()), f"non-finite metric in {result.metrics}"


def check_backbone_export(backbone: Any, onnx: bool = True, exporter: str = "legacy", atol: float = 1e-4) -> None:
    """Eval-mode backbone (BatchNorm calibrated) survives ``torch.export``, gives the same result in
    channels_last and, with ``onnx`` and onnxruntime installed, as an ONNX model (dynamic batch)."""
    calibrate_batchnorm(backbone)
    with torch.no_grad():
        scale = float(backbone(backbone.example_input()).abs().mean())
    assert 1e-2 < scale < 1e3, f"eval output magnitude {scale:.3g}: tolerances would be meaningless"
    x = torch.randn(2, 3, *backbone.input_size)
    with torch.no_grad():
        ref = backbone(x)
        exported = torch.export.export(backbone, (x,))
        torch.testing.assert_close(exported.module()(x), ref, atol=atol, rtol=1e-4)
        cl = backbone.to(memory_format=torch.channels_last)
        torch.testing.assert_close(cl(x.to(memory_format=torch.channels_last)), ref, atol=atol, rtol=1e-4)
        backbone.to(memory_format=torch.contiguous_format)
    if not onnx:
        return
    try:
        import onnxruntime  # noqa: F401
    except ImportError:  # optional dependency: the ONNX part is checked where it is installed
        return
    buf = io.BytesIO()
    export_onnx(backbone, buf, exporter=exporter)
    x3 = torch.randn(3, 3, *backbone.input_size)  # another batch size than the export example: the axis is dynamic
    with torch.no_grad():
        ref3 = backbone(x3).numpy()
    out3 = OnnxFaceModel(buf.getvalue()).run(x3.numpy())
    np.testing.assert_allclose(out3, ref3, atol=max(atol, 1e-4) * 10, rtol=1e-3)


def calibrate_batchnorm(model: Any, batches: int = 2, batch_size: int = 4, seed: int = 0) -> Any:
    """Give every BatchNorm running statistics from random input, then switch to eval mode (fresh
    networks' mean 0 / var 1 make eval outputs tiny or huge)."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(batch_size, 3, *model.input_size, generator=gen))
    return model.eval()


def count_parameters(model: Any) -> int:
    """Number of scalars in every parameter of ``model`` (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def check_map_size_config(config_cls: type, full: tuple[int, int] = (7, 7), upper: tuple[int, int] = (4, 7)) -> None:
    """A flatten+FC backbone config derives the last map from ``input_size`` (112×112 → ``full``,
    60×112 → ``upper``), accepts matching explicit ``out_h``/``out_w`` and rejects wrong ones."""
    assert config_cls().map_size == full
    assert config_cls(input_size=(60, 112)).map_size == upper
    config_cls(input_size=(60, 112), out_h=upper[0], out_w=upper[1])
    try:
        config_cls(input_size=(60, 112), out_h=full[0])
    except ValueError as exc:
        assert "out_h" in str(exc)
    else:
        raise AssertionError(f"{config_cls.__name__} accepted out_h={full[0]} for a 60-row input")
