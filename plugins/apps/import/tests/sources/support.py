"""Helpers of the equivalence tests: aligned crops, random weights with non-trivial BatchNorm
statistics, the sources' own saving code and preprocessing, and FaceX's evaluation path."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

#: The FaceX-Zoo SDK's aligned 112x112 crop among the shared reference data (used when present).
SHARED_CROP = Path(__file__).resolve().parents[5].parent / "shared" / "data" / "facexzoo-sdk" / "test1_cropped.jpg"


def synthetic_crops(n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` 112x112 BGR uint8 face-like crops: skin-toned oval, eyes, mouth, lighting gradient, noise."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = np.zeros((112, 112, 3), np.uint8)
        img[:] = rng.integers(20, 90, 3)
        skin = tuple(int(v) for v in rng.integers((90, 120, 160), (150, 180, 235)))
        cv2.ellipse(img, (56 + int(rng.integers(-4, 5)), 60), (34 + int(rng.integers(-4, 4)), 46), 0, 0, 360, skin, -1)
        for x in (38, 74):
            cv2.circle(img, (x + int(rng.integers(-2, 3)), 52), 5, (40, 30, 30), -1)
        cv2.ellipse(img, (56, 88), (14, 5), 0, 0, 360, (60, 60, 150), -1)
        horizontal = rng.random() < 0.5
        grad = np.linspace(0.75, 1.2, 112)[None, :, None] if horizontal else np.linspace(1.2, 0.8, 112)[:, None, None]
        noisy = img.astype(np.float32) * grad + rng.normal(0, 6, img.shape)
        out.append(np.clip(noisy, 0, 255).astype(np.uint8))
    return out


def crops(n: int = 3, seed: int = 0) -> list[np.ndarray]:
    """Aligned crops for a test: the shared SDK crop (when the checkout has it) plus synthetic ones."""
    found = []
    if SHARED_CROP.is_file():
        img = cv2.imread(str(SHARED_CROP))
        if img is not None and img.shape[:2] != (112, 112):
            img = cv2.resize(img, (112, 112))
        if img is not None:
            found.append(img)
    return (found + synthetic_crops(n, seed))[:n]


@torch.no_grad()
def randomize(model: nn.Module, seed: int = 0, inputs: torch.Tensor | None = None) -> nn.Module:
    """Random weights everywhere and non-trivial BatchNorm statistics, so that any wrong mapping
    changes the output: convolutions and linear layers get random weights (variance-preserving
    scale) and biases, PReLU/LayerNorm/BatchNorm random affine parameters, position tables random
    values. BatchNorm statistics are first measured on ``inputs`` (the source's own preprocessed
    crops; activations then stay well scaled through deep networks, so no layer is drowned by a
    later bias) and then perturbed at random (means shifted, variances scaled); without ``inputs``
    they are drawn at random."""
    g = torch.Generator().manual_seed(seed)

    def rand(shape, low, high):
        return torch.rand(shape, generator=g) * (high - low) + low

    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            m.weight.copy_(rand(m.weight.shape, 0.6, 1.4))
            m.bias.copy_(rand(m.bias.shape, -0.2, 0.2))
        elif isinstance(m, nn.PReLU):
            m.weight.copy_(rand(m.weight.shape, 0.05, 0.4))
        elif isinstance(m, nn.LayerNorm):
            m.weight.copy_(rand(m.weight.shape, 0.6, 1.4))
            m.bias.copy_(rand(m.bias.shape, -0.2, 0.2))
        elif isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (1.0 / fan_in) ** 0.5)
            if m.bias is not None:
                m.bias.copy_(rand(m.bias.shape, -0.1, 0.1))
    for name, p in model.named_parameters():
        if name.rpartition(".")[2] in ("pos_embed", "mask_token", "relative_position_bias_table"):
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    if inputs is not None:
        for m in bns:
            if m.running_mean is not None:
                m.reset_running_stats()
                m.momentum = None
        model.train()
        model(inputs)
        model.eval()
    for m in bns:
        if m.running_mean is not None:
            std = m.running_var.sqrt() if inputs is not None else torch.ones_like(m.running_var)
            base_mean = m.running_mean if inputs is not None else torch.zeros_like(m.running_mean)
            m.running_mean.copy_(base_mean + rand(m.running_mean.shape, -0.3, 0.3) * std)
            base_var = m.running_var if inputs is not None else torch.ones_like(m.running_var)
            m.running_var.copy_(base_var * rand(m.running_var.shape, 0.6, 1.6))
            m.num_batches_tracked.fill_(1000)
            m.momentum = 0.1
    return model.eval()


# -- FaceX-Zoo's side ---------------------------------------------------------------------------------
class FaceModel(nn.Module):
    """FaceX-Zoo's ``FaceModel(backbone, head)``: what its train.py saves the state dict of."""

    def __init__(self, backbone: nn.Module, head: nn.Module | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head if head is not None else ArcFaceHead(_out_features(backbone), 11)


class ArcFaceHead(nn.Module):
    """FaceX-Zoo's ArcFace head parameters: ``weight`` feat_dim x num_class, unit-norm columns."""

    def __init__(self, feat_dim: int, num_class: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(feat_dim, num_class))
        self.weight.data.uniform_(-1, 1).renorm_(2, 1, 1e-5).mul_(1e5)


def _out_features(backbone: nn.Module) -> int:
    last = [m for m in backbone.modules() if isinstance(m, nn.BatchNorm1d)]
    return last[-1].num_features if last else 512


def save_facexzoo(path: Path, backbone: nn.Module, epoch: int = 17, batch_id: int = 0,
                  data_parallel: bool = False, head: nn.Module | None = None) -> Path:
    """``training_mode/conventional_training/train.py``: ``torch.save({'state_dict':
    model.module.state_dict(), 'epoch': epoch, 'batch_id': batch_id}, path)``; ``data_parallel``
    saves the still-wrapped model (``module.`` keys), as a hand-edited script would."""
    model = FaceModel(backbone, head)
    wrapped = nn.DataParallel(model)
    state = wrapped.state_dict() if data_parallel else wrapped.module.state_dict()
    torch.save({"state_dict": state, "epoch": epoch, "batch_id": batch_id}, path)
    return path


def facexzoo_input(crops_bgr, crop_eye: bool = False, size: int | None = None) -> torch.Tensor:
    """FaceX-Zoo's test dataset: the BGR crop (top 60 rows for crop_eye; resized for Swin), CHW,
    ``(x - 127.5) / 128``."""
    out = []
    for img in crops_bgr:
        if size is not None:
            img = cv2.resize(img, (size, size))
        if crop_eye:
            img = img[:60, :]
        out.append((img.transpose((2, 0, 1)) - 127.5) / 128.0)
    return torch.from_numpy(np.stack(out).astype(np.float32))


# -- FaceX's side -----------------------------------------------------------------------------------
@torch.no_grad()
def facex_embeddings(checkpoint: Path, crops_bgr) -> torch.Tensor:
    """The evaluation path: the experiment from the checkpoint, its backbone with the checkpoint's
    weights, the crops through ``preprocess_of(exp.data)``."""
    import facex_core

    exp = facex_core.Experiment.from_checkpoint(checkpoint)
    backbone = exp.build_backbone()
    facex_core.load_backbone_weights(backbone, checkpoint)
    pre = facex_core.preprocess_of(exp.data)
    x = torch.stack([pre(img, backbone.input_size) for img in crops_bgr])
    return backbone.eval()(x)


def cosines(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = torch.as_tensor(a).double().reshape(len(a), -1), torch.as_tensor(b).double().reshape(len(b), -1)
    return torch.nn.functional.cosine_similarity(a, b, dim=1)
