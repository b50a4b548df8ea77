"""RepVGG (Ding et al. 2021) for faces, in the layout of FaceX-Zoo's ``backbone/RepVGG.py``.

RepVGG trains a multi-branch network and deploys a plain VGG-style stack. Each training-time block
sums three branches, ``BN(conv3x3(x)) + BN(conv1x1(x)) + BN(x)`` (the identity branch only when the
block keeps shape), then applies ReLU. All three are linear in ``x`` once BatchNorm uses its running
statistics, so :meth:`RepVGG.reparameterize` folds them into one 3×3 convolution with bias per block
(paper §3.3) and the deployed net is a chain of 3×3 conv + ReLU::

    stage0        block 3 -> min(64, 64*w1), stride 1                     112 x 112
    stage1        blocks[0] blocks -> 64*w1,  first stride 2               56 x 56
    stage2        blocks[1] blocks -> 128*w2, first stride 2               28 x 28
    stage3        blocks[2] blocks -> 256*w3, first stride 2               14 x 14
    stage4        blocks[3] blocks -> 512*w4, first stride 2                7 x 7
    output_layer  BN2d -> [Dropout] -> Flatten -> Linear(C*7*7, D) -> BN1d  D

Module names follow FaceX-Zoo's (``rbr_dense``, ``rbr_1x1``, ``rbr_identity``, ``rbr_reparam``)
except in the shared output layer (``bn``/``linear``/``bn_out`` for ``output_layer.0/2/3``).
"""
from __future__ import annotations

import copy

import attrs
import torch
from torch import nn
from torch.nn import functional as F

from facex_core import Backbone, ConvBNAct, FlattenEmbedding

from .plugin import RepVGGConfig

#: Channels of stages 1-4 before the width multipliers.
BASE_CHANNELS = (64, 128, 256, 512)


def stage_channels(width: tuple[float, float, float, float]) -> tuple[int, int, int, int, int]:
    """Output channels of stages 0-4: stage 0 is capped at 64, as in RepVGG."""
    c1, c2, c3, c4 = (int(base * w) for base, w in zip(BASE_CHANNELS, width))
    return min(64, c1), c1, c2, c3, c4


def fuse_conv_bn(weight: torch.Tensor, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold an inference-mode BatchNorm into the bias-free convolution before it (paper eq. 3):
    ``W' = W · γ/σ`` and ``b' = β − μ·γ/σ`` with ``σ = sqrt(running_var + eps)``."""
    scale = bn.weight / (bn.running_var + bn.eps).sqrt()
    return weight * scale.reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * scale


class RepVGGBlock(nn.Module):
    """One RepVGG block: three BN branches summed then ReLU (training form), or one 3×3 conv with
    bias then ReLU (deploy form, ``deploy=True`` or after :meth:`reparameterize`)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, deploy: bool = False) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.deploy = deploy
        if deploy:
            self.rbr_reparam = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=True)
        else:
            # conv-BN branches without activation, keyed ``conv``/``bn`` as in FaceX-Zoo
            self.rbr_dense = ConvBNAct(in_channels, out_channels, 3, stride, act=None)
            self.rbr_1x1 = ConvBNAct(in_channels, out_channels, 1, stride, act=None)
            has_identity = in_channels == out_channels and stride == 1
            self.rbr_identity = nn.BatchNorm2d(in_channels) if has_identity else None
        self.nonlinearity = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deploy:
            return self.nonlinearity(self.rbr_reparam(x))
        y = self.rbr_dense(x) + self.rbr_1x1(x)
        if self.rbr_identity is not None:
            y = y + self.rbr_identity(x)
        return self.nonlinearity(y)

    def equivalent_kernel_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The 3×3 kernel and bias of the single convolution equal to the three branches in eval
        mode (differentiable, so it can also regularise or quantise the training form)."""
        kernel, bias = fuse_conv_bn(self.rbr_dense.conv.weight, self.rbr_dense.bn)
        k1, b1 = fuse_conv_bn(self.rbr_1x1.conv.weight, self.rbr_1x1.bn)
        # a 1x1 kernel is the centre of a zero 3x3 one; padding 0 vs 1 keeps outputs aligned
        kernel, bias = kernel + F.pad(k1, [1, 1, 1, 1]), bias + b1
        if self.rbr_identity is not None:
            eye = torch.eye(self.in_channels, dtype=kernel.dtype, device=kernel.device)
            kid, bid = fuse_conv_bn(F.pad(eye.reshape(*eye.shape, 1, 1), [1, 1, 1, 1]), self.rbr_identity)
            kernel, bias = kernel + kid, bias + bid
        return kernel, bias

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Replace the three branches by their equivalent 3×3 convolution (in place)."""
        if self.deploy:
            return
        kernel, bias = self.equivalent_kernel_bias()
        fused = nn.Conv2d(self.in_channels, self.out_channels, 3, self.stride, 1, bias=True)
        fused.to(device=kernel.device, dtype=kernel.dtype)
        fused.weight.copy_(kernel)
        fused.bias.copy_(bias)
        del self.rbr_dense, self.rbr_1x1, self.rbr_identity
        self.rbr_reparam = fused
        self.deploy = True


class RepVGG(Backbone):
    """RepVGG: ``N×3×H×W`` aligned faces → ``N×D`` embeddings (not L2-normalised).

    Weights keep PyTorch's default initialisation, as in FaceX-Zoo and the RepVGG reference code.
    """

    def __init__(self, config: RepVGGConfig | None = None) -> None:
        config = RepVGGConfig() if config is None else config
        super().__init__(config)
        channels = stage_channels(config.width)
        self.stage0 = RepVGGBlock(3, channels[0], 1, config.deploy)
        for index, count in enumerate(config.blocks, start=1):
            blocks = [RepVGGBlock(channels[index - 1] if i == 0 else channels[index], channels[index],
                                  2 if i == 0 else 1, config.deploy) for i in range(count)]
            self.add_module(f"stage{index}", nn.Sequential(*blocks))
        out_h, out_w = config.map_size
        self.output_layer = FlattenEmbedding(channels[4], out_h, out_w, self.embedding_size,
                                             dropout=config.dropout)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.check_input(images)
        x = self.stage0(images)
        for stage in (self.stage1, self.stage2, self.stage3, self.stage4):
            x = stage(x)
        return self.output_layer(x)

    def stages(self) -> dict[str, nn.Module]:
        """Feature taps (:meth:`facex_core.Backbone.stages`): ``stem`` (stage0, full resolution) and
        ``stage1`` … ``stage4`` (1/2 … 1/16 of the input), in the training and in the deploy form."""
        return {"stem": self.stage0, "stage1": self.stage1, "stage2": self.stage2, "stage3": self.stage3,
                "stage4": self.stage4}

    @property
    def is_deployed(self) -> bool:
        """Whether every block is in the single-convolution inference form."""
        return all(b.deploy for b in self.modules() if isinstance(b, RepVGGBlock))

    def reparameterize(self) -> RepVGG:
        """Fuse every block into one 3×3 convolution, in place, and return ``self``.

        The result computes the same embeddings as the training form does in eval mode (it uses
        the BatchNorm running statistics), so re-parameterise a trained model. ``config.deploy``
        becomes true, so the config saved with the weights rebuilds the fused form.
        """
        for block in self.modules():
            if isinstance(block, RepVGGBlock):
                block.reparameterize()
        self.config = attrs.evolve(self.config, deploy=True)
        return self


def reparameterized(model: RepVGG) -> RepVGG:
    """A fused (deploy-form) copy of ``model``; ``model`` itself is left in its training form."""
    return copy.deepcopy(model).reparameterize()
