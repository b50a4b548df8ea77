"""Shared mechanics of mapping source tensors onto a FaceX network, written once for every importer.

* prefixes: the ``module.`` a ``DataParallel``/DDP model adds, and a whole model's ``backbone.`` /
  ``head.`` parts (:func:`strip_wrapper`, :func:`split_prefixes`);
* renaming with strict checks (:func:`rename_state` then :func:`fit`): every FaceX tensor must get
  exactly one source tensor of the same shape and every source tensor must find a place; the first
  one that does not is named in a :class:`facex_core.DataError`;
* BatchNorm: statistics under another ``eps`` (:func:`bn_running_var`) and the identity BatchNorm
  that stands for one an exporter folded into the layer before it (:func:`identity_bn`).
"""
from __future__ import annotations

import re
from typing import Callable, Iterable, Mapping, Union

import torch

from facex_core import DataError

#: What ``DataParallel`` / ``DistributedDataParallel`` put in front of every key of the model they wrap.
WRAPPER_PREFIX = "module."


def shape_text(tensor: torch.Tensor) -> str:
    """``[512, 256, 3, 3]``-style shape for messages."""
    return "[" + ", ".join(str(n) for n in tensor.shape) + "]"


def strip_wrapper(state: Mapping[str, torch.Tensor], prefix: str = WRAPPER_PREFIX) -> dict[str, torch.Tensor]:
    """``state`` without the ``module.`` prefix of a wrapped model (only when every key has it; also
    when it was wrapped twice); otherwise unchanged."""
    out = dict(state)
    while out and all(key.startswith(prefix) for key in out):
        out = {key[len(prefix):]: value for key, value in out.items()}
    return out


def split_prefixes(state: Mapping[str, torch.Tensor], prefixes: Iterable[str]) -> tuple[dict[str, dict], dict]:
    """``({prefix: part with the prefix removed}, rest)``: the tensors under each prefix (in the
    given order of preference, a key goes to the first prefix it has) and those under none."""
    parts: dict[str, dict] = {p: {} for p in prefixes}
    rest: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        for prefix in parts:
            if key.startswith(prefix):
                parts[prefix][key[len(prefix):]] = value
                break
        else:
            rest[key] = value
    return parts, rest


#: One renaming rule: a regular expression matched at the start of a key, and what replaces the
#: matched part (a template with ``\\1``-style groups, a function of the match, or ``None`` to drop
#: the tensor).
Rule = tuple[str, Union[str, Callable[[re.Match], str], None]]


def renamer(*rules: Rule) -> Callable[[str], str | None]:
    """A key-renaming function from ``rules``: the first rule whose pattern matches the start of a key
    replaces that part (the rest of the key is kept); keys no rule matches are unchanged."""
    compiled = [(re.compile(pattern), replacement) for pattern, replacement in rules]

    def rename(key: str) -> str | None:
        for pattern, replacement in compiled:
            match = pattern.match(key)
            if match is None:
                continue
            if replacement is None:
                return None
            head = replacement(match) if callable(replacement) else match.expand(replacement)
            return head + key[match.end():]
        return key
    return rename


def rename_state(state: Mapping[str, torch.Tensor], rename: Callable[[str], str | None],
                 source: str) -> dict[str, tuple[str, torch.Tensor]]:
    """``{FaceX key: (source key, tensor)}``: every source key renamed (``None`` drops a tensor the
    FaceX network does not have, e.g. an unused ImageNet classifier). Two source tensors renamed to
    the same key are an error."""
    out: dict[str, tuple[str, torch.Tensor]] = {}
    for key, tensor in state.items():
        new = rename(key)
        if new is None:
            continue
        if new in out:
            raise DataError(f"{source}: tensors {out[new][0]!r} and {key!r} both map to {new!r}; the file is not "
                            "the network named (check --backbone and --set)")
        out[new] = (key, tensor)
    return out


def fit(target: Mapping[str, torch.Tensor], mapped: Mapping[str, tuple[str, torch.Tensor]], *, source: str,
        network: str, hint: str = "check --backbone and --set") -> dict[str, torch.Tensor]:
    """The state dict for a FaceX network whose own ``state_dict()`` is ``target``, from ``mapped``
    (:func:`rename_state`), in ``target``'s key order and dtypes. Strict: the first FaceX tensor
    without a source tensor, of another shape, or the first source tensor left over is a
    :class:`DataError` naming it (``num_batches_tracked`` counters may be absent: they are zero)."""
    out: dict[str, torch.Tensor] = {}
    for key, ref in target.items():
        if key not in mapped:
            if key.endswith("num_batches_tracked"):
                out[key] = torch.zeros_like(ref)
                continue
            raise DataError(f"{source}: holds no tensor for {network}'s {key} {shape_text(ref)}: the file does "
                            f"not hold this {network} ({hint})")
        src_key, tensor = mapped[key]
        if not isinstance(tensor, torch.Tensor):
            raise DataError(f"{source}: {src_key!r} is a {type(tensor).__name__}, not a tensor")
        if tuple(tensor.shape) != tuple(ref.shape):
            raise DataError(f"{source}: tensor {src_key!r} {shape_text(tensor)} does not fit {network}'s {key} "
                            f"{shape_text(ref)}: the file does not hold this {network} ({hint})")
        if ref.is_floating_point() and not tensor.is_floating_point():
            raise DataError(f"{source}: tensor {src_key!r} holds {tensor.dtype} values where {network}'s {key} "
                            "holds floating-point weights")
        out[key] = tensor.detach().to(dtype=ref.dtype).contiguous()
    extra = [(src, t) for key, (src, t) in mapped.items() if key not in target]
    if extra:
        src, tensor = extra[0]
        more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
        raise DataError(f"{source}: tensor {src!r} {shape_text(tensor)}{more} has no place in {network}: the file "
                        f"does not hold this {network} ({hint})")
    return out


def check_finite(state: Mapping[str, torch.Tensor], source: str) -> None:
    """A source whose weights hold NaN or infinities is refused (it would embed every face to NaN)."""
    for key, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise DataError(f"{source}: tensor {key!r} holds NaN or infinite values; refusing to import a model "
                            "that cannot embed faces")


def bn_running_var(var: torch.Tensor, source_eps: float, target_eps: float) -> torch.Tensor:
    """Running variance giving ``sqrt(var + source_eps)`` under ``target_eps``: the same BatchNorm
    when the source network divides with another epsilon."""
    return (var + (source_eps - target_eps)).clamp_min(0.0)


def identity_bn(bn: torch.nn.modules.batchnorm._BatchNorm, bias: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """State of ``bn`` computing ``x + bias`` in eval mode (weight 1, mean 0, variance 1 - eps): what
    a BatchNorm becomes when an exporter folded it into the convolution or linear layer before it."""
    c = bn.num_features
    like = bn.running_mean if bn.running_mean is not None else torch.zeros(c)
    state = {"running_mean": torch.zeros_like(like), "running_var": torch.full_like(like, 1.0 - bn.eps),
             "num_batches_tracked": torch.zeros((), dtype=torch.long)}
    if bn.affine:
        state["weight"] = torch.ones_like(like)
        state["bias"] = torch.zeros_like(like) if bias is None else bias.to(like.dtype).reshape(c)
    elif bias is not None and bool(bias.abs().max() > 0):
        state["running_mean"] = -bias.to(like.dtype).reshape(c)
    return state
