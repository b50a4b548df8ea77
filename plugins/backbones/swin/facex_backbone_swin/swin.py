"""Swin Transformer (Liu et al. 2021) with FaceX-Zoo's flatten output layer.

At 224×224 (FaceX-Zoo resizes its 112×112 crops) the network is::

    patch_embed   4x4 stride-4 conv 3 -> C, LayerNorm                          56x56 tokens, C = 96
    layers.0      2 Swin blocks (W-MSA, SW-MSA), C, then patch merging -> 2C   28x28
    layers.1      2 blocks, 2C, merging -> 4C                                  14x14
    layers.2      6 (Swin-T) or 18 (Swin-S) blocks, 4C, merging -> 8C           7x7
    layers.3      2 blocks, 8C (one 7x7 window: no shift)                       7x7
    output_layer  LayerNorm(8C) -> flatten the 49x768 tokens -> Linear(49*768, D) -> BatchNorm1d(D)

A Swin block is ``x + DropPath(WindowAttention(LN(x)))`` then ``x + DropPath(MLP(LN(x)))`` (paper
Eq. 3); odd blocks shift the grid by half a window before partitioning (the shifted windows).
Module and buffer names and shapes follow FaceX-Zoo's ``backbone/Swin_Transformer.py``, so the
backbone part of a FaceX-Zoo Swin ``state_dict`` is meant to load unchanged. Differences: the output
layer's sizes come from the config (FaceX-Zoo hard-codes ``49*768 -> 512``), and grids that are not
multiples of the window or odd before a merge are padded (FaceX-Zoo asserts), so other input sizes
work.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facex_core import Backbone, DropPath

from . import windows as win
from .plugin import SwinTConfig

#: Standard deviation of the truncated-normal initialisation of linear layers and bias tables.
INIT_STD = 0.02


def init_trunc_normal(module: nn.Module) -> None:
    """Swin's initialisation: linear weights ~ N(0, 0.02²) truncated to [−2, 2], biases 0,
    LayerNorm weight 1 / bias 0 (convolutions and BatchNorm keep PyTorch's defaults)."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=INIT_STD)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class Mlp(nn.Module):
    """Position-wise feed-forward network: Linear → GELU → Dropout → Linear → Dropout."""

    def __init__(self, dim: int, hidden: int, drop: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class WindowAttention(nn.Module):
    """Multi-head self-attention inside each window with a learned relative position bias:
    ``softmax(Q Kᵀ / √d + B + mask) V`` (paper Eq. 4).

    The bias table has one entry per relative offset and head, ``(2wh − 1)(2ww − 1) × heads``.
    """

    def __init__(self, dim: int, window: tuple[int, int], num_heads: int, qkv_bias: bool,
                 attn_drop: float, proj_drop: float) -> None:
        super().__init__()
        self.dim = dim
        self.window_size = window
        self.num_heads = num_heads
        self.tokens = window[0] * window[1]
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window[0] - 1) * (2 * window[1] - 1), num_heads))
        self.register_buffer("relative_position_index", win.relative_position_index(window))
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=INIT_STD)

    def relative_position_bias(self) -> torch.Tensor:
        """``heads × N × N`` bias B gathered from the table."""
        n = self.tokens
        bias = self.relative_position_bias_table[self.relative_position_index.reshape(-1)]
        return bias.reshape(n, n, self.num_heads).permute(2, 0, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x``: ``(B·nW)×N×C`` windows; ``mask``: ``nW×N×N`` additive mask or ``None``."""
        n, c, heads = self.tokens, self.dim, self.num_heads
        q, k, v = self.qkv(x).reshape(-1, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4).unbind(0)
        logits = (q * self.scale) @ k.transpose(-2, -1) + self.relative_position_bias()
        if mask is not None:
            # the same nW masks for every image: view the batch of windows as images × windows
            logits = logits.reshape(-1, mask.shape[0], heads, n, n) + mask.unsqueeze(1)
            logits = logits.reshape(-1, heads, n, n)
        weights = self.attn_drop(logits.softmax(dim=-1))
        out = (weights @ v).transpose(1, 2).reshape(-1, n, c)
        return self.proj_drop(self.proj(out))


class SwinTransformerBlock(nn.Module):
    """One Swin block on a fixed ``grid`` of tokens; ``shifted`` selects the SW-MSA variant."""

    def __init__(self, dim: int, grid: tuple[int, int], num_heads: int, window_size: int,
                 shifted: bool, mlp_ratio: float, qkv_bias: bool, drop: float, attn_drop: float,
                 drop_path: float) -> None:
        super().__init__()
        self.grid = grid
        self.window = win.window_shape(grid, window_size)
        self.shift = win.shift_shape(grid, window_size) if shifted else (0, 0)
        self.padded = win.padded_shape(grid, self.window)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, self.window, num_heads, qkv_bias, attn_drop, drop)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)
        self.register_buffer("attn_mask", win.attention_mask(grid, self.window, self.shift))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (h, w), (hp, wp), (sh, sw) = self.grid, self.padded, self.shift
        c = x.shape[-1]
        y = self.norm1(x).reshape(-1, h, w, c)
        if (hp, wp) != (h, w):
            y = F.pad(y, (0, 0, 0, wp - w, 0, hp - h))
        if sh or sw:
            y = torch.roll(y, shifts=(-sh, -sw), dims=(1, 2))
        y = win.partition(y, self.window)
        y = self.attn(y, self.attn_mask)
        y = win.unpartition(y, self.window, self.padded)
        if sh or sw:
            y = torch.roll(y, shifts=(sh, sw), dims=(1, 2))
        if (hp, wp) != (h, w):
            y = y[:, :h, :w, :]
        x = x + self.drop_path(y.reshape(-1, h * w, c))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """2×2 neighbouring tokens concatenated (4C) → LayerNorm → Linear(4C, 2C, no bias): halves the
    grid (rounding up: an odd grid gets a zero row/column) and doubles the channels."""

    def __init__(self, grid: tuple[int, int], dim: int) -> None:
        super().__init__()
        self.grid = grid
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.grid
        c = x.shape[-1]
        x = x.reshape(-1, h, w, c)
        if h % 2 or w % 2:
            x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        # Swin's order (top-left, bottom-left, top-right, bottom-right) fixes the reduction's layout
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        x = x.reshape(-1, ((h + 1) // 2) * ((w + 1) // 2), 4 * c)
        return self.reduction(self.norm(x))


class BasicLayer(nn.Module):
    """One stage: ``depth`` blocks alternating regular and shifted windows, then (except for the last
    stage) a patch merging."""

    def __init__(self, dim: int, grid: tuple[int, int], depth: int, num_heads: int, window_size: int,
                 mlp_ratio: float, qkv_bias: bool, drop: float, attn_drop: float,
                 drop_path: list[float], downsample: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinTransformerBlock(dim, grid, num_heads, window_size, shifted=i % 2 == 1,
                                 mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop=drop,
                                 attn_drop=attn_drop, drop_path=drop_path[i])
            for i in range(depth))
        self.downsample = PatchMerging(grid, dim) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x if self.downsample is None else self.downsample(x)


class PatchEmbed(nn.Module):
    """Non-overlapping ``p×p`` patches → ``C`` channels (a stride-``p`` convolution) → LayerNorm."""

    def __init__(self, patch_size: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(images).flatten(2).transpose(1, 2))


class SwinTransformer(Backbone):
    """Swin Transformer: ``N×3×H×W`` aligned faces → ``N×D`` embeddings (not L2-normalised).

    Built from :class:`~facex_backbone_swin.plugin.SwinTConfig` (component ``swin_t``) or
    ``SwinSConfig`` (component ``swin_s``).
    """

    def __init__(self, config: SwinTConfig | None = None) -> None:
        config = SwinTConfig() if config is None else config
        super().__init__(config)
        grids = config.resolutions
        num_stages = len(config.depths)
        total_blocks = sum(config.depths)
        # stochastic depth rises linearly over all blocks, from 0 at the first to drop_path_rate
        rates = [config.drop_path_rate * i / max(total_blocks - 1, 1) for i in range(total_blocks)]

        self.patch_embed = PatchEmbed(config.patch_size, config.embed_dim)
        self.pos_drop = nn.Dropout(config.drop_rate)
        self.layers = nn.ModuleList()
        for i, (depth, heads) in enumerate(zip(config.depths, config.num_heads)):
            first = sum(config.depths[:i])
            self.layers.append(BasicLayer(
                config.embed_dim * 2 ** i, grids[i], depth, heads, config.window_size,
                config.mlp_ratio, config.qkv_bias, config.drop_rate, config.attn_drop_rate,
                rates[first:first + depth], downsample=i < num_stages - 1))
        channels = config.embed_dim * 2 ** (num_stages - 1)
        out_h, out_w = grids[-1]
        # FaceX-Zoo's output layer: the LayerNorm that closes Swin, then the whole token map is
        # flattened (token-major) into one linear layer, like the CNN families' flatten output
        self.output_layer = nn.Sequential(
            nn.LayerNorm(channels),
            nn.Flatten(),
            nn.Linear(out_h * out_w * channels, self.embedding_size),
            nn.BatchNorm1d(self.embedding_size),
        )
        self.apply(init_trunc_normal)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.check_input(images)
        x = self.pos_drop(self.patch_embed(images))
        for layer in self.layers:
            x = layer(x)
        return self.output_layer(x)

    def stages(self) -> dict[str, nn.Module]:
        """Feature taps (:meth:`facex_core.Backbone.stages`), token sequences ``N × (h·w) × C`` in row-major
        grid order: ``stem`` (patch_embed, grid of resolutions[0]) and ``stage1`` … ``stageK``, the last
        Swin block of each stage, before its patch merging (grid resolutions[k−1], embed_dim·2^(k−1)
        channels)."""
        taps: dict[str, nn.Module] = {"stem": self.patch_embed}
        taps.update({f"stage{k}": layer.blocks[-1] for k, layer in enumerate(self.layers, start=1)})
        return taps
