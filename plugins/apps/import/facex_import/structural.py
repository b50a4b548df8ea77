"""Mapping an ONNX graph onto a FaceX network by structure, not by names.

The FaceX network is traced once (eval mode, one example image): every layer that holds weights
(convolution, BatchNorm, PReLU, linear, LayerNorm) is recorded in the order it runs, with the tensor
it reads and the one it writes. The graph's weight-carrying nodes (:mod:`facex_import.onnx_graph`)
are walked in graph order alongside, and each layer takes the node(s) that compute it, with every
shape (and each convolution's stride, padding and groups) checked:

* ``Conv`` → convolution; a bias where the FaceX convolution has none, with no ``BatchNormalization``
  node reading its output, is a BatchNorm the exporter folded in: the FaceX BatchNorm that follows
  becomes the identity plus that bias (exact);
* ``Gemm`` (either ``transB``) or ``MatMul`` [+ ``Add``] → linear layer, with the same folding rule;
* ``BatchNormalization`` → BatchNorm (its ``epsilon`` carried over into the running variance);
* ``PRelu`` → PReLU; ``LayerNormalization``, or the ``Mul`` + ``Add`` that end a decomposed one, →
  LayerNorm; an ``Add``/``Mul`` whose weight has the shape of a parameter the FaceX network uses
  directly (a position embedding) → that parameter.

The first node that does not fit, or the first FaceX layer the graph has no node for, is named in a
:class:`facex_core.DataError`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from facex_core import DataError

from .mapping import bn_running_var, fit, identity_bn, shape_text
from .onnx_graph import Graph, Op

#: FaceX layer kinds by module class.
KINDS: tuple[tuple[type, str], ...] = ((nn.Conv2d, "conv"), (nn.modules.batchnorm._BatchNorm, "bn"),
                                       (nn.PReLU, "prelu"), (nn.Linear, "linear"), (nn.LayerNorm, "layernorm"))


@dataclass
class Call:
    """One run of a weight-holding FaceX layer during the trace."""

    name: str
    module: nn.Module
    kind: str
    input_id: int
    output_id: int


def _kind(module: nn.Module) -> str | None:
    return next((kind for cls, kind in KINDS if isinstance(module, cls)), None)


def trace(backbone: nn.Module) -> tuple[list[Call], dict[str, nn.Parameter], set[str]]:
    """``(calls, free, unused)``: the weight-holding layers in the order they run in eval mode, the
    parameters held directly by other modules (``pos_embed``), and those of them eval never uses
    (a training-only mask token)."""
    calls: list[Call] = []
    keep: list[Any] = []
    seen: set[int] = set()
    free: dict[str, nn.Parameter] = {}
    handles = []

    def hook(name: str, kind: str):
        def record(module: nn.Module, inputs: tuple, output: Any) -> None:
            if id(module) in seen or not inputs or not isinstance(inputs[0], torch.Tensor):
                return
            seen.add(id(module))
            keep.extend([inputs[0], output])
            calls.append(Call(name, module, kind, id(inputs[0]), id(output)))
        return record

    for name, module in backbone.named_modules():
        kind = _kind(module)
        if kind is not None:
            handles.append(module.register_forward_hook(hook(name, kind)))
        else:
            for pname, param in module.named_parameters(recurse=False):
                free[f"{name}.{pname}" if name else pname] = param
    was_training = backbone.training
    backbone.eval()
    flags = {n: p.requires_grad for n, p in backbone.named_parameters()}
    try:
        for n, p in backbone.named_parameters():
            p.requires_grad_(n in free)
        example = backbone.example_input(1) if hasattr(backbone, "example_input") else torch.randn(1, 3, 112, 112)
        out = backbone(example)
        unused: set[str] = set()
        if free:
            grads = torch.autograd.grad(out.float().sum(), list(free.values()), allow_unused=True)
            unused = {n for n, g in zip(free, grads) if g is None}
    finally:
        for h in handles:
            h.remove()
        for n, p in backbone.named_parameters():
            p.requires_grad_(flags[n])
        backbone.train(was_training)
    return calls, free, unused


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(array, dtype=np.float32, copy=True))


class _Walk:
    """State of one graph-versus-network walk."""

    def __init__(self, graph: Graph, backbone: nn.Module, network: str, skip: set[int]) -> None:
        self.graph, self.network = graph, network
        self.source = graph.source
        self.calls, self.free, self.unused = trace(backbone)
        self.ops = [op for op in graph.node_ops() if op.index not in skip]
        self.j = 0
        self.state: dict[str, tuple[str, torch.Tensor]] = {}
        self.taken_free: set[str] = set()
        self.pending: dict[int, torch.Tensor] = {}  # call index -> folded bias its BatchNorm must add
        self.shift: dict[int, torch.Tensor] = {}  # call index -> bias to move into its BatchNorm's mean

    # -- helpers ---------------------------------------------------------------------------------
    def put(self, key: str, value: torch.Tensor, origin: str) -> None:
        self.state[key] = (origin, value)

    def fail(self, call: Call, wanted: str, op: Op | None) -> None:
        got = op.describe() if op is not None else "the end of the graph"
        raise DataError(f"{self.source}: {got} does not fit {self.network}'s {call.name} ({wanted}): the graph is "
                        f"not this {self.network} (check --backbone and --set)")

    def op(self, offset: int = 0) -> Op | None:
        k = self.j + offset
        return self.ops[k] if k < len(self.ops) else None

    def reads(self, op: Op | None, tensor: str) -> bool:
        return op is not None and op.data_input() == tensor

    def bn_follows(self, k: int) -> bool:
        """Whether FaceX layer ``k + 1`` is a BatchNorm reading layer ``k``'s output."""
        return (k + 1 < len(self.calls) and self.calls[k + 1].kind == "bn"
                and self.calls[k + 1].input_id == self.calls[k].output_id)

    def take_free(self, call: Call | None) -> None:
        """Assign ``Add``/``Mul`` nodes whose weight has the shape of a directly held FaceX parameter."""
        while (op := self.op()) is not None and op.op_type in ("Add", "Mul"):
            (pos, array), = op.weights.items() if len(op.weights) == 1 else ((None, None),)
            if array is None:
                return
            if call is not None and call.kind in ("layernorm", "linear") and array.ndim == 1:
                return  # a decomposed LayerNorm's scale/bias or a linear layer's bias, not a free parameter
            match = [n for n, p in self.free.items() if n not in self.taken_free and n not in self.unused
                     and tuple(p.shape) == tuple(array.shape)]
            if not match:
                return
            self.put(match[0], _tensor(array), op.describe(pos))
            self.taken_free.add(match[0])
            self.j += 1

    # -- layers ----------------------------------------------------------------------------------
    def layer_bias(self, k: int, call: Call, op: Op, bias: np.ndarray | None, out_tensor: str) -> None:
        """Place the bias of a convolution or linear layer (whose nodes the walk has just consumed),
        folding rules included."""
        module = call.module
        has_bias = getattr(module, "bias", None) is not None
        after = self.op()
        bn_in_graph = self.bn_follows(k) and self.reads(after, out_tensor) and after.op_type == "BatchNormalization"
        if self.bn_follows(k) and not bn_in_graph and bias is not None:
            # the exporter folded the FaceX BatchNorm that follows into this layer
            self.pending[k + 1] = _tensor(bias)
            if has_bias:
                self.put(f"{call.name}.bias", torch.zeros(module.bias.shape), op.describe())
            return
        if has_bias:
            value = _tensor(bias) if bias is not None else torch.zeros(module.bias.shape)
            self.put(f"{call.name}.bias", value.reshape(module.bias.shape), op.describe())
        elif bias is not None and np.any(bias != 0):
            if bn_in_graph:
                self.shift[k + 1] = _tensor(bias)
            else:
                self.fail(call, f"{type(module).__name__} without bias", op)

    def conv(self, k: int, call: Call) -> None:
        op, m = self.op(), call.module
        if op is None or op.op_type != "Conv" or 1 not in op.weights:
            self.fail(call, f"convolution {shape_text(m.weight)}", op)
        weight = op.weights[1]
        strides = tuple(op.attrs.get("strides", (1,) * (weight.ndim - 2)))
        pads = tuple(op.attrs.get("pads", (0,) * 2 * (weight.ndim - 2)))
        geometry_ok = (tuple(weight.shape) == tuple(m.weight.shape) and strides == tuple(m.stride)
                       and op.attrs.get("group", 1) == m.groups
                       and (isinstance(m.padding, str) or pads == tuple(m.padding) * 2))
        if not geometry_ok:
            self.fail(call, f"convolution {shape_text(m.weight)}, stride {tuple(m.stride)}, padding "
                            f"{m.padding}, groups {m.groups}", op)
        self.put(f"{call.name}.weight", _tensor(weight), op.describe(1))
        self.j += 1
        self.layer_bias(k, call, op, op.weights.get(2), op.outputs[0])

    def linear(self, k: int, call: Call) -> None:
        op, m = self.op(), call.module
        want = f"linear {shape_text(m.weight)}"
        if op is not None and op.op_type == "Gemm" and 1 in op.weights:
            weight = op.weights[1] if op.attrs.get("transB", 0) else op.weights[1].T
            if op.attrs.get("alpha", 1.0) != 1.0 or op.attrs.get("beta", 1.0) != 1.0 or op.attrs.get("transA", 0):
                self.fail(call, want + " (Gemm with alpha = beta = 1)", op)
            bias, out = op.weights.get(2), op.outputs[0]
            consumed = 1
        elif op is not None and op.op_type == "MatMul" and 1 in op.weights:
            weight, out, bias, consumed = op.weights[1].T, op.outputs[0], None, 1
            nxt = self.op(1)
            if nxt is not None and nxt.op_type == "Add" and self.reads(nxt, out) and len(nxt.weights) == 1 \
                    and next(iter(nxt.weights.values())).shape == (m.out_features,):
                bias, out, consumed = next(iter(nxt.weights.values())), nxt.outputs[0], 2
        else:
            self.fail(call, want, op)
        if tuple(weight.shape) != tuple(m.weight.shape):
            self.fail(call, want, op)
        self.put(f"{call.name}.weight", _tensor(weight), op.describe(1))
        self.j += consumed
        self.layer_bias(k, call, op, bias, out)

    def batchnorm(self, k: int, call: Call) -> None:
        m = call.module
        if k in self.pending:
            for name, value in identity_bn(m, self.pending.pop(k)).items():
                if f"{call.name}.{name}" in self.target:
                    self.put(f"{call.name}.{name}", value, "a BatchNorm folded into the layer before it")
            return
        op = self.op()
        if op is None or op.op_type != "BatchNormalization" or set(op.weights) != {1, 2, 3, 4} \
                or op.weights[1].shape != (m.num_features,):
            self.fail(call, f"BatchNorm of {m.num_features} channels", op)
        scale, bias, mean, var = (_tensor(op.weights[i]) for i in (1, 2, 3, 4))
        if k in self.shift:
            mean = mean - self.shift.pop(k)
        if m.affine:
            self.put(f"{call.name}.weight", scale, op.describe(1))
            self.put(f"{call.name}.bias", bias, op.describe(2))
        elif not (torch.allclose(scale, torch.ones_like(scale)) and torch.allclose(bias, torch.zeros_like(bias))):
            self.fail(call, "BatchNorm without affine parameters", op)
        self.put(f"{call.name}.running_mean", mean, op.describe(3))
        self.put(f"{call.name}.running_var",
                 bn_running_var(var, float(op.attrs.get("epsilon", 1e-5)), m.eps), op.describe(4))
        self.j += 1

    def prelu(self, k: int, call: Call) -> None:
        op, m = self.op(), call.module
        if op is None or op.op_type != "PRelu" or 1 not in op.weights or op.weights[1].size != m.weight.numel():
            self.fail(call, f"PReLU of {m.weight.numel()} slopes", op)
        self.put(f"{call.name}.weight", _tensor(op.weights[1]).reshape(m.weight.shape), op.describe(1))
        self.j += 1

    def layernorm(self, k: int, call: Call) -> None:
        op, m = self.op(), call.module
        shape = tuple(m.normalized_shape)
        if op is not None and op.op_type == "LayerNormalization" and 1 in op.weights \
                and op.weights[1].shape == shape:
            self.put(f"{call.name}.weight", _tensor(op.weights[1]), op.describe(1))
            self.put(f"{call.name}.bias", _tensor(op.weights[2]) if 2 in op.weights else torch.zeros(shape),
                     op.describe(2) if 2 in op.weights else "no bias")
            self.j += 1
            return
        nxt = self.op(1)
        if op is not None and op.op_type == "Mul" and nxt is not None and nxt.op_type == "Add" \
                and self.reads(nxt, op.outputs[0]) and len(op.weights) == 1 and len(nxt.weights) == 1:
            (ps, scale), = op.weights.items()
            (pb, bias), = nxt.weights.items()
            if scale.shape == shape and bias.shape == shape:
                self.put(f"{call.name}.weight", _tensor(scale), op.describe(ps))
                self.put(f"{call.name}.bias", _tensor(bias), nxt.describe(pb))
                self.j += 2
                return
        self.fail(call, f"LayerNorm over {shape}", op)

    def run(self, target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        self.target = target
        handlers = {"conv": self.conv, "linear": self.linear, "bn": self.batchnorm, "prelu": self.prelu,
                    "layernorm": self.layernorm}
        for k, call in enumerate(self.calls):
            if not (call.kind == "bn" and k in self.pending):
                self.take_free(call)
            handlers[call.kind](k, call)
        self.take_free(None)
        if self.j < len(self.ops):
            extra = len(self.ops) - self.j
            raise DataError(f"{self.source}: {self.ops[self.j].describe()} (and {extra - 1} more weight nodes) is "
                            f"left over after the last layer of {self.network}: the graph is a larger network "
                            "(check --backbone and --set)")
        for name, param in self.free.items():
            if name in self.unused and name not in self.state:
                # used only in training (e.g. ViT's mask token): an inference graph does not hold it
                self.put(name, param.detach().clone(), "not in the graph (training only)")
        return fit(target, self.state, source=self.source, network=self.network)


def map_graph(graph: Graph, backbone: nn.Module, network: str, skip: set[int] = frozenset()) -> dict[str, torch.Tensor]:
    """The FaceX state dict of ``backbone`` taken from ``graph`` by structure (see the module doc);
    ``skip`` lists node indices already accounted for (the input normalisation)."""
    walk = _Walk(graph, backbone, network, set(skip))
    return walk.run(backbone.state_dict())

