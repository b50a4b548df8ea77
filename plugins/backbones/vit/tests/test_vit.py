"""Tests of the face ViT backbones (CPU, batch 2; full-size nets are built, ViT-T and reduced ones run)."""
from __future__ import annotations

import pytest
import torch

from facex_backbone_vit import plugin
from facex_backbone_vit.plugin import ViTBConfig, ViTSConfig, ViTTConfig, patch_grid
from facex_backbone_vit.vit import VisionTransformer
from facex_core.testing import (assert_light_module, calibrate_batchnorm, check_backbone, check_backbone_export,
                                check_backbone_stages, count_parameters, torch_threads)

CONFIGS = {"vit_t": ViTTConfig, "vit_s": ViTSConfig, "vit_b": ViTBConfig}
#: InsightFace arcface_torch README, "ViT for Face Recognition": GFLOPs (= MACs, ptflops plus the
#: attention matmuls) at 112x112. No parameter counts are published; ours are checked against an
#: independent count from the layer list below.
PUBLISHED_GMACS = {"vit_t": 1.5, "vit_s": 5.7, "vit_b": 11.4}


def reduced(**overrides) -> ViTTConfig:
    """A ~100k-parameter ViT with the default geometry (112x112, patch 9, 144 tokens, masking)."""
    base = dict(embed_dim=32, depth=1, num_heads=2, embedding_size=64)
    return ViTTConfig(**{**base, **overrides})


# -- independent counts, from the layer list and per-layer formulas ------------------------------

def expected_params(cfg: ViTTConfig) -> int:
    c, p, d = cfg.embed_dim, cfg.patch_size, cfg.embedding_size
    tokens = patch_grid(cfg.input_size, p)[0] * patch_grid(cfg.input_size, p)[1]
    hidden = int(c * cfg.mlp_ratio)
    block = (2 * 2 * c                                           # norm1, norm2
             + 3 * c * c + (3 * c if cfg.qkv_bias else 0)        # qkv
             + c * c + c                                         # proj
             + c * hidden + hidden + hidden * c + c)             # mlp
    return (3 * p * p * c + c                                    # patch_embed
            + tokens * c                                         # pos_embed
            + cfg.depth * block
            + 2 * c                                              # norm
            + tokens * c * c + 2 * c + c * d + 2 * d             # feature: linear, BN, linear, BN
            + c)                                                 # mask_token


def expected_macs(cfg: ViTTConfig) -> int:
    """Multiply-accumulates for one image: matmuls and the patch convolution (norms, softmax and
    activations are not counted, as in InsightFace's figure)."""
    c, p, d = cfg.embed_dim, cfg.patch_size, cfg.embedding_size
    tokens = patch_grid(cfg.input_size, p)[0] * patch_grid(cfg.input_size, p)[1]
    hidden = int(c * cfg.mlp_ratio)
    block = tokens * (4 * c * c + 2 * c * hidden) + 2 * tokens * tokens * c   # projections + QK^T, AV
    return tokens * c * 3 * p * p + cfg.depth * block + tokens * c * c + c * d


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    """Batch-2 forwards gain little from intra-op threads on a shared 2-core machine."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def vit_t() -> VisionTransformer:
    torch.manual_seed(0)
    return VisionTransformer(ViTTConfig())


def calibrated(cfg: ViTTConfig) -> VisionTransformer:
    """A reduced net whose BatchNorms hold real statistics, so eval outputs are O(1)."""
    torch.manual_seed(0)
    return calibrate_batchnorm(VisionTransformer(cfg))


# -- size, cost, variants ----------------------------------------------------------------------

def test_vit_t_param_count_and_macs(vit_t: VisionTransformer) -> None:
    import facex_core

    assert count_parameters(vit_t) == expected_params(ViTTConfig()) == 19_137_792
    measured = facex_core.count_params_and_macs(vit_t)["macs"]
    assert measured == expected_macs(ViTTConfig()) == 1_504_882_688
    assert round(measured / 1e9, 1) == PUBLISHED_GMACS["vit_t"]


def test_vit_s_param_count() -> None:
    assert count_parameters(VisionTransformer(ViTSConfig())) == expected_params(ViTSConfig()) == 76_023_296


def test_vit_b_param_count() -> None:
    assert count_parameters(VisionTransformer(ViTBConfig())) == expected_params(ViTBConfig()) == 113_833_472


@pytest.mark.parametrize("name", ["vit_s", "vit_b"])
def test_macs_match_insightface_figures(name: str) -> None:
    assert round(expected_macs(CONFIGS[name]()) / 1e9, 1) == PUBLISHED_GMACS[name]


def test_variant_defaults() -> None:
    t, s, b = ViTTConfig(), ViTSConfig(), ViTBConfig()
    shapes = [(c.embed_dim, c.depth, c.num_heads) for c in (t, s, b)]
    assert shapes == [(256, 12, 8), (512, 12, 8), (512, 24, 8)]
    for cfg in (t, s, b):
        assert (cfg.input_size, cfg.patch_size) == ((112, 112), 9)
        assert (cfg.num_patches, cfg.kept_patches) == (144, 129)
        assert (cfg.mlp_ratio, cfg.qkv_bias, cfg.drop_path_rate, cfg.mask_ratio) == (4.0, False, 0.1, 0.1)
    assert [c.gradient_checkpointing for c in (t, s, b)] == [False, False, True]


def test_insightface_state_dict_names(vit_t: VisionTransformer) -> None:
    shapes = {k: tuple(v.shape) for k, v in vit_t.state_dict().items()}
    assert shapes["patch_embed.proj.weight"] == (256, 3, 9, 9)
    assert shapes["pos_embed"] == (1, 144, 256) and shapes["mask_token"] == (1, 1, 256)
    assert shapes["blocks.11.attn.qkv.weight"] == (768, 256) and "blocks.0.attn.qkv.bias" not in shapes
    assert shapes["blocks.0.mlp.fc1.weight"] == (1024, 256)
    assert shapes["norm.weight"] == (256,)
    assert shapes["feature.0.weight"] == (256, 144 * 256)
    assert shapes["feature.2.weight"] == (512, 256)
    assert "feature.3.running_var" in shapes and "feature.0.bias" not in shapes
    assert vit_t.feature[1].eps == vit_t.feature[3].eps == 2e-5
    assert isinstance(vit_t.blocks[0].mlp.act, torch.nn.ReLU6)


def test_stochastic_depth_rises_linearly(vit_t: VisionTransformer) -> None:
    rates = [b.drop_path.p for b in vit_t.blocks]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.1)
    assert all(b > a for a, b in zip(rates, rates[1:]))


# -- token masking -----------------------------------------------------------------------------

def test_training_drops_tokens_and_fills_them_with_the_mask_token() -> None:
    net = VisionTransformer(reduced())
    seen = {}
    net.blocks[0].register_forward_hook(lambda m, args, out: seen.update(block=args[0].shape))
    net.feature.register_forward_hook(lambda m, args, out: seen.update(feature=args[0].detach()))
    net.train()
    net(torch.randn(2, 3, 112, 112))
    assert seen["block"] == (2, 129, 32)                   # int(144 * 0.9) tokens per image
    tokens = seen["feature"].reshape(2, 144, 32)
    is_mask = (tokens == net.mask_token.detach().reshape(1, 1, 32)).all(-1)
    assert is_mask.sum(1).tolist() == [15, 15]
    assert not torch.equal(is_mask[0], is_mask[1])         # chosen per image (fails with prob. ~1e-20)
    net.eval()
    with torch.no_grad():
        net(torch.randn(2, 3, 112, 112))
    assert seen["block"] == (2, 144, 32)


def test_mask_token_learns_only_when_masking() -> None:
    net = VisionTransformer(reduced())
    net.train()
    net(torch.randn(2, 3, 112, 112)).square().sum().backward()
    assert net.mask_token.grad is not None and net.mask_token.grad.abs().sum() > 0
    unmasked = VisionTransformer(reduced(mask_ratio=0.0))
    unmasked.train()
    unmasked(torch.randn(2, 3, 112, 112)).square().sum().backward()
    assert unmasked.mask_token.grad is None


def test_gradient_checkpointing_gives_the_same_gradients() -> None:
    grads = []
    for flag in (False, True):
        torch.manual_seed(0)
        net = VisionTransformer(reduced(depth=2, drop_path_rate=0.5, gradient_checkpointing=flag))
        net.train()
        torch.manual_seed(1)
        net(torch.randn(2, 3, 112, 112)).square().sum().backward()
        grads.append(net.patch_embed.proj.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])


# -- other inputs and errors -------------------------------------------------------------------

def test_upper_half_face_input() -> None:
    cfg = reduced(input_size=(60, 112))
    assert cfg.grid == (6, 12) and cfg.num_patches == 72 and cfg.kept_patches == 64
    net = calibrated(cfg)
    assert net.feature[0].in_features == 72 * 32
    with torch.no_grad():
        out = net(torch.randn(2, 3, 60, 112))
    assert out.shape == (2, 64) and torch.isfinite(out).all()
    assert count_parameters(net) == expected_params(cfg)


def test_pixels_outside_the_patch_grid_are_ignored() -> None:
    net = calibrated(reduced())
    x = torch.randn(2, 3, 112, 112)
    y = x.clone()
    y[:, :, 108:, :] = 5.0
    y[:, :, :, 108:] = -5.0
    with torch.no_grad():
        torch.testing.assert_close(net(x), net(y), rtol=0, atol=0)


def test_eval_has_no_batch_coupling() -> None:
    net = calibrated(reduced())
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        both, first = net(x), net(x[:1])
    assert 0.1 < both.abs().mean().item() < 10
    torch.testing.assert_close(first, both[:1], rtol=1e-5, atol=1e-5)


def test_wrong_input_size_is_a_clear_error(vit_t: VisionTransformer) -> None:
    with pytest.raises(ValueError, match="input_size"):
        vit_t(torch.randn(2, 3, 108, 108))


def test_invalid_configs_rejected() -> None:
    for bad in (dict(embedding_size=0), dict(num_heads=3), dict(depth=0), dict(mask_ratio=1.0),
                dict(patch_size=200), dict(input_size=(0, 112)), dict(drop_path_rate=-0.1),
                dict(input_size=(9, 9), mask_ratio=0.5)):
        with pytest.raises(ValueError):
            ViTTConfig(**bad)


# -- core contract and export --------------------------------------------------------------------

def test_vit_t_core_contract_and_export(vit_t: VisionTransformer) -> None:
    check_backbone(vit_t, batch=2)
    check_backbone_export(vit_t)


def test_reduced_vit_b_layout_core_contract() -> None:
    """Gradient checkpointing and masking together, as ViT-B trains."""
    check_backbone(VisionTransformer(ViTBConfig(embed_dim=32, depth=2, num_heads=2, embedding_size=64)))


# -- registration ------------------------------------------------------------------------------

def test_plugin_module_does_not_import_torch() -> None:
    assert_light_module("facex_backbone_vit.plugin")


def test_components_declared() -> None:
    comps = {c.name: c for c in plugin.facex_components()}
    assert list(comps) == list(CONFIGS)
    for name, comp in comps.items():
        assert comp.kind == "backbone" and comp.config is CONFIGS[name]
        assert comp.factory == "facex_backbone_vit.vit:VisionTransformer"


def test_built_by_name_with_overrides() -> None:
    import facex_core

    net = facex_core.build("backbone", "vit_b", embedding_size=64, embed_dim=32, depth=2, num_heads=2)
    assert isinstance(net, VisionTransformer) and net.embedding_size == 64
    assert net.gradient_checkpointing and len(net.blocks) == 2


# -- feature taps (Backbone.stages, used by distillation) ---------------------------------------


def test_stages_are_block_groups_of_tokens() -> None:
    # 112×112, patch 9: 144 tokens; depth 6 → groups end after blocks 1, 3, 4, 6
    torch.manual_seed(0)
    net = VisionTransformer(reduced(depth=6))
    check_backbone_stages(net, {"stem": (144, 32), "stage1": (144, 32), "stage2": (144, 32), "stage3": (144, 32),
                            "stage4": (144, 32), "final": (144, 32)})
    assert [net.stages()[f"stage{k}"] for k in (1, 2, 3, 4)] == [net.blocks[i] for i in (0, 2, 3, 5)]
    shallow = VisionTransformer(reduced(depth=2))
    assert list(shallow.stages()) == ["stem", "stage1", "stage2", "final"]
