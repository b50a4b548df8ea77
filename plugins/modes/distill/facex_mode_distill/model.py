"""The networks of a distillation run: the frozen teacher, the adapters and the student model.

State-dict layout of :class:`DistillModel` (what checkpoints keep)::

    backbone.*                 the student backbone: evaluation, export and the SDK load it unchanged
    head.*                     the student head
    distill.adapters.<i>.<k>.* term i's adapter for its k-th tap (absent where the term needs none)
    distill.losses.<i>.*       term i's loss state (e.g. AdaDistill's class centres; most losses have none)

The teacher is never part of it: it is rebuilt from ``training.teacher`` on every (re)start, and
its weights' fingerprint is checked against the one the run started with.
"""
from __future__ import annotations

import hashlib
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from facex_core import HeadOutput

#: What the ``takes`` of a distill_loss requires of each tap.
TAKES = ("logits", "embeddings", "feature_map", "feature_maps")


def tap_kind(tap: str) -> str:
    """``logits``, ``embeddings`` or ``stage``."""
    return "stage" if tap.startswith("stage:") else tap


def stage_name(tap: str) -> str:
    return tap[len("stage:"):].strip()


def as_map(x: Any, tap: str) -> torch.Tensor:
    """A stage output as an ``N×C×H×W`` map; transformer token sequences ``N×L×C`` become ``N×C×L×1``."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{tap}: the stage's output is a {type(x).__name__}, not one tensor (choose another stage)")
    if x.dim() == 4:
        return x
    if x.dim() == 3:
        return x.transpose(1, 2).unsqueeze(-1)
    raise ValueError(f"{tap}: expected a map (N×C×H×W) or tokens (N×L×C), got shape {tuple(x.shape)}")


def resize_map(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """``x`` at spatial ``size``: average pooling when it shrinks both sides, bilinear interpolation otherwise."""
    size = tuple(size)
    if tuple(x.shape[-2:]) == size:
        return x
    if x.shape[-2] >= size[0] and x.shape[-1] >= size[1]:
        return F.adaptive_avg_pool2d(x, size)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class MapAdapter(nn.Module):
    """Student map → teacher shape: optional 1×1 conv (no bias) + BatchNorm, then pooling/resizing."""

    def __init__(self, in_channels: int, out_channels: int | None, size: Sequence[int] | None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False) if out_channels else None
        self.bn = nn.BatchNorm2d(out_channels) if out_channels else None
        self.size = tuple(size) if size else None

    def extra_repr(self) -> str:
        return f"size={self.size}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv is not None:
            x = self.bn(self.conv(x))
        return resize_map(x, self.size) if self.size is not None else x


class VectorAdapter(nn.Module):
    """Student embedding → teacher size: linear (no bias) + BatchNorm1d."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias=False)
        self.bn = nn.BatchNorm1d(out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.linear(x))


def state_fingerprint(*modules: nn.Module) -> str:
    """SHA-256 of the names and bytes of every tensor of ``modules``' state dicts."""
    digest = hashlib.sha256()
    for module in modules:
        for key, value in module.state_dict().items():
            digest.update(key.encode())
            digest.update(str(value.dtype).encode() + str(tuple(value.shape)).encode())
            digest.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@torch.no_grad()
def side_shapes(backbone: nn.Module, taps: Sequence[str], num_classes: int | None,
                input_size: Sequence[int]) -> dict[str, tuple[int, ...]]:
    """Per-sample shape of each tap (a dry run on two black images in eval mode; the RNG is not used)."""
    was_training = backbone.training
    backbone.eval()
    try:
        images = torch.zeros(2, 3, *input_size, device=next(backbone.parameters()).device)
        stages = sorted({stage_name(t) for t in taps if tap_kind(t) == "stage"})
        embeddings, maps = backbone.forward_taps(images, stages) if stages else (backbone(images), {})
    finally:
        backbone.train(was_training)
    shapes: dict[str, tuple[int, ...]] = {}
    for tap in taps:
        if tap == "embeddings":
            shapes[tap] = tuple(embeddings.shape[1:])
        elif tap == "logits":
            shapes[tap] = (int(num_classes or 0),)
        else:
            out = maps[stage_name(tap)]
            shapes[tap] = tuple(as_map(out, tap).shape[1:]) + (("tokens",) if out.dim() == 3 else ())
    return shapes


class Teacher:
    """The frozen teacher: backbone (and head, for logits taps) in eval mode, run without gradients;
    returns the requested taps of a batch, its images resized to the teacher's input size first."""

    def __init__(self, backbone: nn.Module, head: nn.Module | None, taps: Sequence[str]) -> None:
        self.backbone = backbone.eval().requires_grad_(False)
        self.head = head.eval().requires_grad_(False) if head is not None else None
        self.taps = list(dict.fromkeys(taps))
        self.stages = sorted({stage_name(t) for t in self.taps if tap_kind(t) == "stage"})
        self.input_size = tuple(backbone.input_size)

    def to(self, device: torch.device, channels_last: bool = False) -> "Teacher":
        for net in (self.backbone, self.head):
            if net is not None:
                net.to(device)
                if channels_last:
                    net.to(memory_format=torch.channels_last)
        return self

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        if tuple(images.shape[-2:]) != self.input_size:
            images = F.interpolate(images, size=self.input_size, mode="bilinear", align_corners=False,
                                   antialias=images.shape[-2] > self.input_size[0])
        if self.stages:
            embeddings, maps = self.backbone.forward_taps(images, self.stages)
        else:
            embeddings, maps = self.backbone(images), {}
        sides: dict[str, torch.Tensor] = {}
        for tap in self.taps:
            if tap == "embeddings":
                sides[tap] = embeddings
            elif tap == "logits":
                sides[tap] = self.head(embeddings, labels).logits
            else:
                sides[tap] = as_map(maps[stage_name(tap)], tap)
        return sides


class DistillModel(nn.Module):
    """Student backbone + head + each term's adapters and loss; :meth:`forward` returns the whole loss.

    ``forward(images, labels, teacher)`` with ``teacher[i]`` = term i's teacher sides (one tensor per
    tap) → :class:`facex_core.HeadOutput` whose ``loss`` is ``head_weight`` × the head's loss and whose
    ``extra_losses`` hold the head's weighted extra terms and ``distill_<name>`` = λ_i · term_i. The
    terms are computed in float32 (outside autocast).
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, terms: Sequence[Any], losses: Sequence[nn.Module],
                 adapters: Sequence[Sequence[nn.Module | None]], head_weight: float) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.distill = nn.Module()
        self.distill.adapters = nn.ModuleDict({
            str(i): nn.ModuleDict({str(k): a for k, a in enumerate(row) if a is not None})
            for i, row in enumerate(adapters) if any(a is not None for a in row)})
        self.distill.losses = nn.ModuleList(losses)
        self.head_weight = float(head_weight)
        self.weights = [float(t.weight) for t in terms]
        self.student_taps = [tuple(t.student_taps) for t in terms]
        self.stages = sorted({stage_name(tap) for taps in self.student_taps for tap in taps if tap_kind(tap) == "stage"})
        names = [t.name.split(":")[-1] for t in terms]
        self.keys = [f"distill_{n}" if names.count(n) == 1 else f"distill_{n}_{i}" for i, n in enumerate(names)]

    def adapter(self, term: int, tap: int) -> nn.Module | None:
        row = self.distill.adapters[str(term)] if str(term) in self.distill.adapters else None
        return row[str(tap)] if row is not None and str(tap) in row else None

    def forward(self, images: torch.Tensor, labels: torch.Tensor,
                teacher: Sequence[Sequence[torch.Tensor]]) -> HeadOutput:
        if self.stages:
            embeddings, maps = self.backbone.forward_taps(images, self.stages)
        else:
            embeddings, maps = self.backbone(images), {}
        out = self.head(embeddings, labels)
        sides = {"embeddings": embeddings, "logits": out.logits}
        sides.update({f"stage:{name}": as_map(value, f"stage:{name}") for name, value in maps.items()})
        terms: dict[str, torch.Tensor] = {}
        with torch.autocast(images.device.type, enabled=False):
            for i, (loss, taps) in enumerate(zip(self.distill.losses, self.student_taps)):
                student = []
                for k, tap in enumerate(taps):
                    side = sides[tap].float()
                    adapter = self.adapter(i, k)
                    student.append(adapter(side) if adapter is not None else side)
                target = [t.float() for t in teacher[i]]
                args = (student, target) if loss.takes == "feature_maps" else (student[0], target[0])
                kwargs = {"labels": labels} if getattr(loss, "needs_labels", False) else {}
                terms[self.keys[i]] = self.weights[i] * loss(*args, **kwargs)
        extra = {key: self.head_weight * value for key, value in out.extra_losses.items()}
        return HeadOutput(loss=self.head_weight * out.loss, logits=out.logits, extra_losses={**extra, **terms},
                          targets=out.targets)
