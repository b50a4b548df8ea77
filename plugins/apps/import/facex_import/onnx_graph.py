"""An ONNX graph as the sequence of its weight-carrying operations, in graph order.

Exporters differ in how they store the same network: initializers may be graph inputs, ``Constant``
nodes, reached through ``Identity``/``Transpose``/``Cast`` nodes, named after the PyTorch parameter or
numbered, listed in any order; BatchNorm may be folded into the convolution before it. So a graph is
read by its structure: every node that consumes a weight tensor, in the order the nodes run, with its
weights resolved to arrays (:func:`weight_ops`). Input normalisation computed inside the graph
(``Sub``/``Mul``/``Div`` by constants before the first layer, as MXNet-converted models do) is
recognised and reported as the input convention (:func:`input_affine`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facex_core import DataError

#: Ops that always carry weights.
LAYER_OPS = {"Conv", "BatchNormalization", "PRelu", "Gemm", "LayerNormalization", "InstanceNormalization"}
#: Ops that may carry a weight tensor as one of their inputs (a bias, a scale, a position embedding).
ARITHMETIC_OPS = {"MatMul", "Add", "Mul", "Sub", "Div"}
#: Parameter-free ops whose output is a constant when their inputs are (folded while reading).
FOLDABLE = {"Identity", "Cast", "Transpose", "Unsqueeze", "Squeeze", "Reshape", "Flatten"}


@dataclass
class Op:
    """One node of the graph that consumes at least one weight tensor."""

    index: int
    op_type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    #: Input position -> the weight array there (resolved through constants and foldable nodes).
    weights: dict[int, np.ndarray]
    #: Input position -> the initializer or node output name it was read from (for messages).
    weight_names: dict[int, str]
    attrs: dict[str, Any] = field(default_factory=dict)

    def describe(self, position: int | None = None) -> str:
        """``initializer 'x' [256, 64, 3, 3] of Conv node 'Conv_12'`` for messages."""
        pos = min(self.weights) if position is None else position
        arr = self.weights[pos]
        return (f"tensor {self.weight_names[pos]!r} [{', '.join(map(str, arr.shape))}] of {self.op_type} node "
                f"{self.name or '#' + str(self.index)!r}")

    def data_input(self) -> str | None:
        """The first input that is not a weight (the activation the op works on)."""
        for i, name in enumerate(self.inputs):
            if i not in self.weights and name:
                return name
        return None


def _attributes(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _fold(node: Any, values: list[np.ndarray], attrs: dict[str, Any]) -> np.ndarray | None:
    """The constant output of a foldable node whose inputs are all constant (None: not folded)."""
    op = node.op_type
    x = values[0]
    if op in ("Identity", "Cast"):
        if op == "Cast":
            from onnx import helper

            return x.astype(helper.tensor_dtype_to_np_dtype(attrs["to"]))
        return x
    if op == "Transpose":
        return np.transpose(x, attrs.get("perm"))
    if op == "Unsqueeze":
        axes = attrs.get("axes", values[1].tolist() if len(values) > 1 else None)
        for axis in sorted(int(a) if a >= 0 else int(a) + x.ndim + len(axes) for a in axes):
            x = np.expand_dims(x, axis)
        return x
    if op == "Squeeze":
        axes = attrs.get("axes", values[1].tolist() if len(values) > 1 else None)
        return np.squeeze(x, axis=tuple(int(a) for a in axes) if axes is not None else None)
    if op == "Reshape":
        shape = [int(s) for s in values[1].tolist()]
        shape = [x.shape[i] if s == 0 and not attrs.get("allowzero", 0) else s for i, s in enumerate(shape)]
        return x.reshape(shape)
    if op == "Flatten":
        axis = attrs.get("axis", 1)
        return x.reshape(int(np.prod(x.shape[:axis])), -1)
    return None


class Graph:
    """The nodes of an ONNX model's main graph with every constant tensor resolved."""

    def __init__(self, model: Any, source: str) -> None:
        from onnx import numpy_helper

        self.source = source
        graph = model.graph
        self.nodes = list(graph.node)
        self.constants: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        initializer_names = set(self.constants)
        self.inputs = [i.name for i in graph.input if i.name not in initializer_names]
        self.outputs = [o.name for o in graph.output]
        self.folded: set[int] = set()
        for index, node in enumerate(self.nodes):
            attrs = _attributes(node)
            if node.op_type == "Constant":
                self.constants[node.output[0]] = self._constant_value(node, attrs)
                self.folded.add(index)
            elif node.op_type in FOLDABLE and node.input and all(n in self.constants for n in node.input if n):
                value = _fold(node, [self.constants[n] for n in node.input if n], attrs)
                if value is not None:
                    self.constants[node.output[0]] = value
                    self.folded.add(index)
        self.producer = {out: i for i, node in enumerate(self.nodes) for out in node.output}

    @staticmethod
    def _constant_value(node: Any, attrs: dict[str, Any]) -> np.ndarray:
        from onnx import numpy_helper

        if "value" in attrs:
            return numpy_helper.to_array(attrs["value"])
        for key in ("value_float", "value_int"):
            if key in attrs:
                return np.array(attrs[key])
        for key in ("value_floats", "value_ints"):
            if key in attrs:
                return np.array(list(attrs[key]))
        raise DataError(f"unsupported ONNX Constant node {node.name!r} ({', '.join(attrs)})")

    def is_weight(self, name: str) -> bool:
        """Whether ``name`` is a floating-point constant of more than one value (a learned tensor)."""
        value = self.constants.get(name)
        return value is not None and value.dtype.kind == "f" and value.size > 1

    def is_scalar_constant(self, name: str) -> bool:
        value = self.constants.get(name)
        return value is not None and value.size == 1

    def node_ops(self) -> list[Op]:
        """Every weight-carrying node in graph order (constant-folding nodes left out)."""
        ops = []
        for index, node in enumerate(self.nodes):
            if index in self.folded:
                continue
            if node.op_type not in LAYER_OPS and node.op_type not in ARITHMETIC_OPS:
                continue
            weights = {i: self.constants[n] for i, n in enumerate(node.input)
                       if n and n in self.constants and (node.op_type in LAYER_OPS or self.is_weight(n))}
            if node.op_type in LAYER_OPS and node.input and node.input[0] in self.constants:
                continue  # a layer applied to a constant: part of the constant machinery
            if not weights or (node.op_type in ARITHMETIC_OPS and len(weights) == len([n for n in node.input if n])):
                continue
            ops.append(Op(index=index, op_type=node.op_type, name=node.name, inputs=list(node.input),
                          outputs=list(node.output), weights=weights,
                          weight_names={i: node.input[i] for i in weights}, attrs=_attributes(node)))
        return ops

    def input_affine(self) -> tuple[float, float, set[int]]:
        """``(scale, shift, nodes)`` of an input normalisation ``x * scale + shift`` the graph computes
        itself (``Sub``/``Add``/``Mul``/``Div`` by scalar or per-channel-equal constants straight after
        the input); ``(1, 0, set())`` when there is none. ``nodes`` are the node indices to skip."""
        if len(self.inputs) != 1:
            raise DataError(f"{self.source}: the graph has {len(self.inputs)} inputs ({', '.join(self.inputs)}); "
                            "a face recognition model has one (the aligned crop)")
        scale, shift, current, used = 1.0, 0.0, self.inputs[0], set()
        while True:
            consumers = [i for i, node in enumerate(self.nodes) if current in node.input and i not in self.folded]
            if len(consumers) != 1:
                break
            index = consumers[0]
            node = self.nodes[index]
            if node.op_type not in ("Sub", "Add", "Mul", "Div") or len(node.input) != 2:
                break
            other = node.input[1] if node.input[0] == current else node.input[0]
            value = self.constants.get(other)
            if value is None or value.size == 0 or not np.allclose(value, value.flat[0]):
                if value is not None and value.size > 1:
                    raise DataError(f"{self.source}: the graph normalises its input per channel ({node.op_type} node "
                                    f"{node.name!r}: {value.ravel().tolist()}); FaceX records one mean and one "
                                    "std for all channels")
                break
            c = float(value.flat[0])
            first = node.input[0] == current
            if node.op_type == "Sub":
                scale, shift = (scale, shift - c) if first else (-scale, c - shift)
            elif node.op_type == "Add":
                shift += c
            elif node.op_type == "Mul":
                scale, shift = scale * c, shift * c
            elif first:  # Div, input / c
                scale, shift = scale / c, shift / c
            else:
                break
            used.add(index)
            current = node.output[0]
        return scale, shift, used
