"""The face Vision Transformer of InsightFace ``arcface_torch`` (ViT-T / ViT-S / ViT-B).

At 112×112 with 9×9 patches (pixels 108..111 of each side fall outside the 12×12 patch grid)::

    patch_embed   9x9 stride-9 conv 3 -> C                                  144 tokens x C
    pos_embed     + learned position embedding (no class token)             144 x C
    [training]    keep a random int(144 * (1 - mask_ratio)) tokens per image
    blocks        depth x pre-norm block: x + DropPath(MHSA(LN(x))), x + DropPath(MLP(LN(x)))
    norm          LayerNorm(C)
    [training]    put a learned mask token at the dropped positions         144 x C
    feature       flatten (token-major) -> Linear(144*C, C, no bias) -> BN1d(C)
                  -> Linear(C, D, no bias) -> BN1d(D)                        D

The MLP uses ReLU6 (InsightFace's choice, not the GELU of the ViT paper) and the query/key/value
projection has no bias. Module names and shapes follow InsightFace's ``backbones/vit.py``, so its
``state_dict`` is meant to load unchanged.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from facex_core import Backbone, DropPath

from .plugin import ViTTConfig

#: Standard deviation of the (truncated-)normal initialisation of linear layers and embeddings.
INIT_STD = 0.02
#: BatchNorm1d epsilon of the feature head (InsightFace's MXNet-era value).
FEATURE_BN_EPS = 2e-5


class Mlp(nn.Module):
    """Position-wise feed-forward network: Linear → ReLU6 → Dropout → Linear → Dropout."""

    def __init__(self, dim: int, hidden: int, drop: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.ReLU6()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.drop(self.act(self.fc1(x)))
        return self.drop(self.fc2(hidden))


class Attention(nn.Module):
    """Multi-head self-attention over all tokens: ``softmax(Q Kᵀ / √d) V``, then a linear projection."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool, attn_drop: float, proj_drop: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens, dim = x.shape[1], x.shape[2]
        heads = self.num_heads
        # N × L × 3C → 3 × N × heads × L × C/heads; the batch stays -1 so exports keep it dynamic
        q, k, v = self.qkv(x).reshape(-1, tokens, 3, heads, dim // heads).permute(2, 0, 3, 1, 4).unbind(0)
        weights = self.attn_drop(((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1))
        out = (weights @ v).transpose(1, 2).reshape(-1, tokens, dim)
        return self.proj_drop(self.proj(out))


class Block(nn.Module):
    """Pre-norm transformer block (ViT paper Eq. 2–3) with stochastic depth on both branches."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qkv_bias: bool, drop: float,
                 attn_drop: float, drop_path: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads, qkv_bias, attn_drop, drop)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    """Non-overlapping ``p×p`` patches → ``C`` channels (a stride-``p`` convolution), as tokens."""

    def __init__(self, patch_size: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch_size, stride=patch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.proj(images).flatten(2).transpose(1, 2)


class VisionTransformer(Backbone):
    """Face ViT: ``N×3×H×W`` aligned faces → ``N×D`` embeddings (not L2-normalised).

    Built from :class:`~facex_backbone_vit.plugin.ViTTConfig` (component ``vit_t``), ``ViTSConfig``
    (``vit_s``) or ``ViTBConfig`` (``vit_b``).
    """

    def __init__(self, config: ViTTConfig | None = None) -> None:
        config = ViTTConfig() if config is None else config
        super().__init__(config)
        self.num_patches = config.num_patches
        self.kept_patches = config.kept_patches
        self.gradient_checkpointing = bool(config.gradient_checkpointing)
        dim, depth = config.embed_dim, config.depth

        self.patch_embed = PatchEmbed(config.patch_size, dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.num_patches, dim))
        self.pos_drop = nn.Dropout(config.drop_rate)
        self.blocks = nn.ModuleList(
            Block(dim, config.num_heads, config.mlp_ratio, config.qkv_bias, config.drop_rate,
                  config.attn_drop_rate, config.drop_path_rate * i / max(depth - 1, 1))
            for i in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.feature = nn.Sequential(
            nn.Linear(self.num_patches * dim, dim, bias=False),
            nn.BatchNorm1d(dim, eps=FEATURE_BN_EPS),
            nn.Linear(dim, self.embedding_size, bias=False),
            nn.BatchNorm1d(self.embedding_size, eps=FEATURE_BN_EPS),
        )
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """InsightFace's initialisation: linear weights and the position embedding ~ N(0, 0.02²)
        truncated to [−2, 2], the mask token ~ N(0, 0.02²), linear biases 0, LayerNorm 1 / 0
        (the patch convolution and BatchNorm keep PyTorch's defaults)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=INIT_STD)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.pos_embed, std=INIT_STD)
        nn.init.normal_(self.mask_token, std=INIT_STD)

    @property
    def masking(self) -> bool:
        """Whether this forward pass drops tokens (training with ``mask_ratio`` > 0)."""
        return self.training and self.kept_patches < self.num_patches

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # the position embedding and the feature head are sized for input_size's patch grid
        self.check_input(images)
        x = self.pos_drop(self.patch_embed(images) + self.pos_embed)
        if self.masking:
            index = self.random_keep_index(x)
            x = x.gather(1, index)
        for block in self.blocks:
            if self.training and self.gradient_checkpointing:
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        x = self.norm(x)
        if self.masking:
            x = self.mask_token.to(x.dtype).expand(x.shape[0], self.num_patches, -1).scatter(1, index, x)
        return self.feature(x.flatten(1))

    def stages(self) -> dict[str, nn.Module]:
        """Feature taps (:meth:`facex_core.Backbone.stages`), token sequences ``N × L × C`` (L = the patch
        grid, row-major; only the kept tokens, in random order, while training with mask_ratio > 0):
        ``stem`` (patch_embed, before the position embedding), ``stage1`` … ``stage4`` = the end of each
        quarter of the blocks (blocks 3, 6, 9, 12 of a depth-12 ViT; fewer groups when depth < 4) and
        ``final`` (the closing LayerNorm)."""
        groups = min(4, len(self.blocks))
        taps: dict[str, nn.Module] = {"stem": self.patch_embed}
        taps.update({f"stage{k}": self.blocks[len(self.blocks) * k // groups - 1] for k in range(1, groups + 1)})
        taps["final"] = self.norm
        return taps

    def random_keep_index(self, tokens: torch.Tensor) -> torch.Tensor:
        """Per image, the positions of ``kept_patches`` tokens chosen uniformly without replacement,
        as an ``N×kept×C`` index for ``gather``/``scatter`` along the token axis."""
        n, length, dim = tokens.shape
        order = torch.rand(n, length, device=tokens.device).argsort(dim=1)
        return order[:, :self.kept_patches].unsqueeze(-1).expand(-1, -1, dim)
