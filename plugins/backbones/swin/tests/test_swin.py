"""Tests of the Swin Transformer backbones (CPU, batch 2; full-size nets are built, reduced ones run)."""
from __future__ import annotations

import math

import pytest
import torch

from facex_backbone_swin import plugin
from facex_backbone_swin import windows as win
from facex_backbone_swin.plugin import SwinSConfig, SwinTConfig, stage_resolutions
from facex_backbone_swin.swin import PatchMerging, SwinTransformer, SwinTransformerBlock
from facex_core.testing import (assert_light_module, calibrate_batchnorm, check_backbone, check_backbone_export,
                                check_backbone_stages, count_parameters, torch_threads)

#: FaceX-Zoo's measured parameter counts (feat_dim 512, 224x224), in millions (facexzoo-reference §2).
REFERENCE_PARAMS_M = {"swin_t": 46.788, "swin_s": 68.106}
#: ... of which its output layer (LayerNorm + Linear(49*768, 512) + BatchNorm1d).
REFERENCE_OUTPUT_LAYER_M = 19.271
CONFIGS = {"swin_t": SwinTConfig, "swin_s": SwinSConfig}


def reduced(**overrides) -> SwinTConfig:
    """A few-hundred-thousand-parameter Swin with the default geometry (4 stages, window 7)."""
    base = dict(embed_dim=16, depths=(2, 1, 1, 1), num_heads=(1, 2, 2, 4), embedding_size=64)
    return SwinTConfig(**{**base, **overrides})


# -- an independent parameter count, from the layer list and per-layer formulas -----------------

def expected_params(cfg: SwinTConfig) -> int:
    layer_norm = lambda c: 2 * c  # noqa: E731
    linear = lambda i, o, bias=True: i * o + (o if bias else 0)  # noqa: E731
    p, c0 = cfg.patch_size, cfg.embed_dim
    total = 3 * p * p * c0 + c0 + layer_norm(c0)                                # patch_embed
    grids = stage_resolutions(cfg.input_size, p, len(cfg.depths))
    for i, (depth, heads) in enumerate(zip(cfg.depths, cfg.num_heads)):
        c, (gh, gw) = c0 * 2 ** i, grids[i]
        wh, ww = min(cfg.window_size, gh), min(cfg.window_size, gw)
        hidden = int(c * cfg.mlp_ratio)
        block = (2 * layer_norm(c) + (2 * wh - 1) * (2 * ww - 1) * heads          # norms, bias table
                 + linear(c, 3 * c, cfg.qkv_bias) + linear(c, c)                   # qkv, proj
                 + linear(c, hidden) + linear(hidden, c))                          # mlp
        total += depth * block
        if i < len(cfg.depths) - 1:
            total += layer_norm(4 * c) + linear(4 * c, 2 * c, bias=False)         # patch merging
    c_last, (oh, ow) = c0 * 2 ** (len(cfg.depths) - 1), grids[-1]
    return total + output_layer_params(c_last, oh * ow, cfg.embedding_size)


def output_layer_params(channels: int, tokens: int, embedding: int) -> int:
    """LayerNorm(C) + Linear(tokens*C, D) with bias + BatchNorm1d(D)."""
    return 2 * channels + tokens * channels * embedding + embedding + 2 * embedding


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    """Batch-2 forwards gain little from intra-op threads on a shared 2-core machine."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def swin_t() -> SwinTransformer:
    torch.manual_seed(0)
    return SwinTransformer(SwinTConfig())


# -- size and the FaceX-Zoo reference -----------------------------------------------------------

def test_swin_t_param_count_matches_reference(swin_t: SwinTransformer) -> None:
    count = count_parameters(swin_t)
    assert count == expected_params(SwinTConfig()) == 46_788_474
    assert abs(count / 1e6 - REFERENCE_PARAMS_M["swin_t"]) / REFERENCE_PARAMS_M["swin_t"] < 0.005


def test_swin_s_param_count_matches_reference() -> None:
    count = count_parameters(SwinTransformer(SwinSConfig()))
    assert count == expected_params(SwinSConfig()) == 68_106_378
    assert abs(count / 1e6 - REFERENCE_PARAMS_M["swin_s"]) / REFERENCE_PARAMS_M["swin_s"] < 0.005


def test_output_layer_matches_reference(swin_t: SwinTransformer) -> None:
    count = count_parameters(swin_t.output_layer)
    assert count == output_layer_params(768, 49, 512)
    assert abs(count / 1e6 - REFERENCE_OUTPUT_LAYER_M) / REFERENCE_OUTPUT_LAYER_M < 0.005


def test_variant_defaults() -> None:
    t, s = SwinTConfig(), SwinSConfig()
    assert (t.depths, t.drop_path_rate) == ((2, 2, 6, 2), 0.2)
    assert (s.depths, s.drop_path_rate) == ((2, 2, 18, 2), 0.3)
    for cfg in (t, s):
        assert (cfg.embed_dim, cfg.num_heads, cfg.window_size, cfg.patch_size) == (96, (3, 6, 12, 24), 7, 4)
        assert cfg.input_size == (224, 224) and cfg.resolutions == [(56, 56), (28, 28), (14, 14), (7, 7)]


def test_facex_zoo_state_dict_names(swin_t: SwinTransformer) -> None:
    shapes = {k: tuple(v.shape) for k, v in swin_t.state_dict().items()}
    assert shapes["patch_embed.proj.weight"] == (96, 3, 4, 4)
    assert shapes["patch_embed.norm.weight"] == (96,)
    assert shapes["layers.0.blocks.0.attn.relative_position_bias_table"] == (169, 3)
    assert shapes["layers.0.blocks.0.attn.relative_position_index"] == (49, 49)
    assert shapes["layers.0.blocks.0.attn.qkv.bias"] == (288,)
    assert shapes["layers.0.blocks.1.attn_mask"] == (64, 49, 49)        # 8x8 shifted windows
    assert shapes["layers.2.blocks.5.mlp.fc1.weight"] == (1536, 384)
    assert shapes["layers.2.downsample.reduction.weight"] == (768, 1536)
    assert shapes["output_layer.0.weight"] == (768,)
    assert shapes["output_layer.2.weight"] == (512, 49 * 768)
    assert "output_layer.3.running_var" in shapes
    # unshifted blocks, and the last stage (one 7x7 window, no shift), carry no mask
    assert "layers.0.blocks.0.attn_mask" not in shapes and "layers.3.blocks.1.attn_mask" not in shapes
    assert "layers.3.downsample.reduction.weight" not in shapes


def test_stochastic_depth_rises_linearly_to_the_configured_rate(swin_t: SwinTransformer) -> None:
    rates = [b.drop_path.p for layer in swin_t.layers for b in layer.blocks]
    assert len(rates) == 12 and rates[0] == 0.0 and rates[-1] == pytest.approx(0.2)
    assert all(b > a for a, b in zip(rates, rates[1:]))


def test_initialisation(swin_t: SwinTransformer) -> None:
    fc = swin_t.layers[2].blocks[0].mlp.fc1
    assert abs(fc.weight.std().item() - 0.02) < 0.002 and fc.weight.abs().max() <= 2.0
    assert torch.equal(fc.bias, torch.zeros_like(fc.bias))
    assert torch.equal(swin_t.layers[1].blocks[0].norm1.weight, torch.ones(192))


# -- window geometry against brute-force definitions ---------------------------------------------

def test_relative_position_index_encodes_offsets() -> None:
    for wh, ww in ((7, 7), (4, 7)):
        index = win.relative_position_index((wh, ww))
        for i in range(wh * ww):
            for j in range(0, wh * ww, 5):
                dh, dw = i // ww - j // ww, i % ww - j % ww
                assert index[i, j] == (dh + wh - 1) * (2 * ww - 1) + (dw + ww - 1)


def image_coords(grid, window, shift):
    """For each window of the shifted, padded frame, its tokens as (row, col) in that frame, (row, col)
    in the padded image, and whether the token is part of the image (not padding)."""
    hp, wp = win.padded_shape(grid, window)
    coords = []
    for r0 in range(0, hp, window[0]):
        for c0 in range(0, wp, window[1]):
            cells = []
            for r in range(r0, r0 + window[0]):
                for c in range(c0, c0 + window[1]):
                    ir, ic = (r + shift[0]) % hp, (c + shift[1]) % wp
                    cells.append((r, c, ir, ic, ir < grid[0] and ic < grid[1]))
            coords.append(cells)
    return coords


def allowed(a, b) -> bool:
    """Two tokens of a window may attend iff both are real or both padding, and the cyclic shift did not
    wrap between them (their offset in the shifted frame equals their offset in the image)."""
    return a[4] == b[4] and a[0] - b[0] == a[2] - b[2] and a[1] - b[1] == a[3] - b[3]


@pytest.mark.parametrize("grid", [(14, 14), (9, 10), (5, 9), (15, 28)])
def test_attention_mask_blocks_exactly_wrapped_and_padding_pairs(grid) -> None:
    window = win.window_shape(grid, 7)
    shift = win.shift_shape(grid, 7)
    mask = win.attention_mask(grid, window, shift)
    windows = image_coords(grid, window, shift)
    assert mask is not None and mask.shape[0] == len(windows)
    for w, cells in enumerate(windows):
        want = torch.tensor([[0.0 if allowed(a, b) else win.MASKED_LOGIT for b in cells] for a in cells])
        torch.testing.assert_close(mask[w], want, rtol=0, atol=0)


def test_no_mask_where_nothing_is_shifted_or_padded() -> None:
    assert win.attention_mask((14, 14), (7, 7), (0, 0)) is None
    assert win.attention_mask((7, 7), win.window_shape((7, 7), 7), win.shift_shape((7, 7), 7)) is None
    assert win.shift_shape((4, 14), 7) == (0, 3) and win.window_shape((4, 14), 7) == (4, 7)


def naive_block(block: SwinTransformerBlock, x: torch.Tensor) -> torch.Tensor:
    """The block computed token by token from the definitions (eval mode, no dropout)."""
    h, w = block.grid
    attn = block.attn
    heads, c = attn.num_heads, x.shape[-1]
    wh, ww = block.window
    y = block.norm1(x)
    q, k, v = attn.qkv(y).reshape(x.shape[0], h * w, 3, heads, c // heads).unbind(2)
    out = torch.zeros_like(y)
    cells = [cell for window in image_coords(block.grid, block.window, block.shift) for cell in window]
    by_image = {(a[2], a[3]): a for a in cells if a[4]}
    for t in range(h * w):
        a = by_image[(t // w, t % w)]
        keys = [b for b in cells if (a[0] // wh, a[1] // ww) == (b[0] // wh, b[1] // ww) and allowed(a, b)]
        idx = [b[2] * w + b[3] for b in keys]
        table = [(a[0] - b[0] + wh - 1) * (2 * ww - 1) + (a[1] - b[1] + ww - 1) for b in keys]
        bias = attn.relative_position_bias_table[table].T                       # heads × keys
        logits = torch.einsum("nhd,nkhd->nhk", q[:, t], k[:, idx]) * attn.scale + bias
        out[:, t] = torch.einsum("nhk,nkhd->nhd", logits.softmax(-1), v[:, idx]).reshape(-1, c)
    x = x + attn.proj(out)
    return x + block.mlp(block.norm2(x))


@pytest.mark.parametrize("grid,shifted",
                         [((14, 14), True), ((9, 10), True), ((5, 9), True), ((9, 10), False)])
def test_block_matches_token_by_token_definition(grid, shifted) -> None:
    torch.manual_seed(1)
    block = SwinTransformerBlock(8, grid, num_heads=2, window_size=7, shifted=shifted, mlp_ratio=2.0,
                                 qkv_bias=True, drop=0.0, attn_drop=0.0, drop_path=0.0).eval()
    with torch.no_grad():
        block.attn.relative_position_bias_table.normal_()
        x = torch.randn(2, grid[0] * grid[1], 8)
        torch.testing.assert_close(block(x), naive_block(block, x), rtol=1e-4, atol=1e-5)


def test_patch_merging_order_and_odd_grid() -> None:
    merge = PatchMerging((3, 4), dim=1)
    merge.norm = torch.nn.Identity()
    merge.reduction = torch.nn.Identity()
    x = torch.arange(1.0, 13.0).reshape(1, 12, 1)          # a 3x4 grid holding 1..12
    out = merge(x)
    assert out.shape == (1, 4, 4)                           # 2x2 grid, 4 channels
    # top-left, bottom-left, top-right, bottom-right of each 2x2 cell; row 3 is zero padding
    assert out[0, 0].tolist() == [1.0, 5.0, 2.0, 6.0]
    assert out[0, 3].tolist() == [11.0, 0.0, 12.0, 0.0]


# -- other input sizes, FaceX-Zoo config keys, errors --------------------------------------------

def test_upper_half_face_input() -> None:
    cfg = reduced(input_size=(120, 224))
    assert cfg.map_size == (4, 7) and cfg.resolutions == [(30, 56), (15, 28), (8, 14), (4, 7)]
    net = SwinTransformer(cfg).eval()
    assert net.output_layer[2].in_features == 4 * 7 * 128
    with torch.no_grad():
        out = net(torch.randn(2, 3, 120, 224))
    assert out.shape == (2, 64) and torch.isfinite(out).all()
    assert count_parameters(net) == expected_params(cfg)
    SwinTConfig(input_size=(120, 224), out_h=4, out_w=7)
    with pytest.raises(ValueError, match="out_h=7"):
        SwinTConfig(input_size=(120, 224), out_h=7)
    assert SwinTConfig(input_size=(60, 112)).map_size == (2, 4)


def test_112_input_without_resizing() -> None:
    for cfg in (reduced(input_size=(112, 112)), reduced(input_size=(112, 112), patch_size=2)):
        net = SwinTransformer(cfg).eval()
        with torch.no_grad():
            assert net(torch.randn(2, 3, 112, 112)).shape == (2, 64)
    assert reduced(input_size=(112, 112), patch_size=2).resolutions[-1] == (7, 7)


def test_eval_has_no_batch_coupling() -> None:
    torch.manual_seed(0)
    net = calibrate_batchnorm(SwinTransformer(reduced(input_size=(120, 224))))
    x = torch.randn(2, 3, 120, 224)
    with torch.no_grad():
        both, first = net(x), net(x[:1])
    assert 0.1 < both.abs().mean().item() < 10
    torch.testing.assert_close(first, both[:1], rtol=1e-5, atol=1e-5)


def test_wrong_input_size_is_a_clear_error() -> None:
    net = SwinTransformer(reduced())
    with pytest.raises(ValueError, match="input_size"):
        net(torch.randn(2, 3, 112, 112))


def test_invalid_configs_rejected() -> None:
    for bad in (dict(embedding_size=0), dict(depths=(2, 2, 6)), dict(num_heads=(3, 6, 12, 25)),
                dict(depths=(2, 0, 6, 2)), dict(input_size=(2, 224)), dict(drop_path_rate=1.0),
                dict(window_size=0), dict(mlp_ratio=0.0)):
        with pytest.raises(ValueError):
            SwinTConfig(**bad)


# -- core contract and export --------------------------------------------------------------------

def test_swin_t_core_contract(swin_t: SwinTransformer) -> None:
    check_backbone(swin_t, batch=2)


def test_reduced_swin_s_layout_core_contract() -> None:
    check_backbone(SwinTransformer(reduced(depths=(1, 1, 2, 1))), batch=2)


def test_export_with_shifted_and_padded_windows() -> None:
    """torch.export, channels_last and ONNX (dynamic batch) on the upper-half-face geometry, where
    stage 1 is both shifted and padded and two patch mergings see odd grids."""
    torch.manual_seed(0)
    check_backbone_export(SwinTransformer(reduced(input_size=(120, 224))))


# -- registration ------------------------------------------------------------------------------

def test_plugin_module_does_not_import_torch() -> None:
    assert_light_module("facex_backbone_swin.plugin")


def test_components_declared() -> None:
    comps = {c.name: c for c in plugin.facex_components()}
    assert list(comps) == list(CONFIGS)
    for name, comp in comps.items():
        assert comp.kind == "backbone" and comp.config is CONFIGS[name]
        assert comp.factory == "facex_backbone_swin.swin:SwinTransformer"


def test_built_by_name_with_toml_style_overrides() -> None:
    import facex_core

    net = facex_core.build("backbone", "swin_s", embedding_size=64, embed_dim=16, depths=[1, 1, 1, 1],
                           num_heads=[1, 2, 2, 4])
    assert isinstance(net, SwinTransformer) and net.embedding_size == 64
    assert net.config.depths == (1, 1, 1, 1) and net.config.drop_path_rate == 0.3
    assert math.isclose(net.layers[3].blocks[0].drop_path.p, 0.3)


# -- feature taps (Backbone.stages, used by distillation) ---------------------------------------


def test_stages_are_token_sequences_before_each_merge() -> None:
    # 224×224, patch 4: 56×56 tokens of 16 ch; stage k has (56/2^(k-1))² tokens of 16·2^(k−1) ch
    torch.manual_seed(0)
    net = SwinTransformer(reduced())
    check_backbone_stages(net, {"stem": (3136, 16), "stage1": (3136, 16), "stage2": (784, 32), "stage3": (196, 64),
                            "stage4": (49, 128)})
