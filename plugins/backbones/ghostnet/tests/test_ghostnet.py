"""Tests of the GhostNet backbone (CPU, batch 2, single thread)."""
from __future__ import annotations

import pytest
import torch

import facex_core
from facex_backbone_ghostnet.ghostnet import GhostBottleneck, GhostModule, GhostNet
from facex_backbone_ghostnet.plugin import BLOCKS, GhostNetConfig
from facex_core.testing import (assert_light_module, calibrate_batchnorm, check_backbone, check_backbone_export,
                                check_backbone_stages, check_map_size_config, count_parameters, torch_threads)

#: FaceX-Zoo's measured parameter count of GhostNet (width 1.0, feat_dim 512, 112x112), in millions.
REFERENCE_PARAMS_M = 26.759
#: Exact counts of this plugin at 112x112, D = 512, per width (as in the README).
EXACT_PARAMS = {0.5: 12_735_348, 1.0: 26_759_364, 1.3: 35_792_956}


def expected_params(width: float = 1.0, embedding: int = 512, out_h: int = 7, out_w: int = 7) -> int:
    """An independent count from the block table (BN = 2 parameters per channel)."""
    def ch(c: float) -> int:
        return facex_core.make_divisible(c * width, 4)

    def ghost(c_in: int, c_out: int) -> int:   # 1x1 conv to ceil(c/2) + 3x3 depthwise copy, BN each
        half = (c_out + 1) // 2
        return c_in * half + 2 * half + 9 * half + 2 * half

    c_in = ch(16)
    total = 27 * c_in + 2 * c_in                                             # stem
    for kernel, hidden, out, se, stride in BLOCKS:
        mid, c_out = ch(hidden), ch(out)
        total += ghost(c_in, mid) + ghost(mid, c_out)
        if stride > 1:
            total += kernel * kernel * mid + 2 * mid                         # depthwise, stride 2
        if se:
            r = facex_core.make_divisible(mid * se, 4)
            total += 2 * mid * r + r + mid                                   # SE convs, with bias
        if stride > 1 or c_in != c_out:
            total += kernel * kernel * c_in + 2 * c_in + c_in * c_out + 2 * c_out  # conv shortcut
        c_in = c_out
    last = ch(960)
    total += c_in * last + 2 * last                                          # final 1x1 conv
    return total + 2 * last + last * out_h * out_w * embedding + 3 * embedding  # output layer


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    """Small batches gain nothing from intra-op threads on a shared 2-core machine."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def model() -> GhostNet:
    torch.manual_seed(0)
    return calibrate_batchnorm(GhostNet(GhostNetConfig()))


# -- sizes ---------------------------------------------------------------------------------------

def test_param_count_matches_reference(model: GhostNet) -> None:
    count = count_parameters(model)
    assert count == expected_params() == EXACT_PARAMS[1.0]
    assert abs(count / 1e6 - REFERENCE_PARAMS_M) / REFERENCE_PARAMS_M < 0.005
    # of which the flattening linear layer, 960*7*7 -> 512, is FaceX-Zoo's 24.09M
    assert model.output_layer.linear.weight.numel() + 512 == 24_084_992


@pytest.mark.parametrize("width", [0.5, 1.0, 1.3])
def test_width_multiplier_param_count_matches_formula(width: float) -> None:
    with torch.device("meta"):
        net = GhostNet(GhostNetConfig(width=width))
    assert count_parameters(net) == expected_params(width) == EXACT_PARAMS[width]
    # the last layer scales with the width (FaceX-Zoo keeps 960 in its embedding layer)
    last = facex_core.make_divisible(960 * width, 4)
    assert net.final[0].out_channels == net.output_layer.bn.num_features == last
    assert net.output_layer.linear.in_features == last * 49


@pytest.mark.parametrize("width", [0.5, 1.3])
def test_other_widths_run(width: float) -> None:
    torch.manual_seed(0)
    check_backbone(GhostNet(GhostNetConfig(width=width, embedding_size=64)), batch=2)


# -- layout --------------------------------------------------------------------------------------

def test_ghost_module_makes_half_its_maps_cheaply() -> None:
    torch.manual_seed(0)
    module = GhostModule(8, 12, relu=True).eval()
    x = torch.randn(2, 8, 5, 5)
    with torch.no_grad():
        out = module(x)
        primary = module.primary(x)
        torch.testing.assert_close(out[:, :6], primary)
        torch.testing.assert_close(out[:, 6:], module.cheap(primary))
    assert out.shape == (2, 12, 5, 5)
    assert module.cheap[0].groups == 6 and module.cheap[0].kernel_size == (3, 3)
    assert GhostModule(8, 7, relu=False)(x).shape[1] == 7   # odd widths drop the spare ghost


def test_bottleneck_layout(model: GhostNet) -> None:
    first, down, se_block = model.blocks[0], model.blocks[1], model.blocks[3]
    assert isinstance(first, GhostBottleneck) and isinstance(first.shortcut, torch.nn.Identity)
    assert isinstance(first.depthwise, torch.nn.Identity) and isinstance(first.se, torch.nn.Identity)
    assert down.depthwise[0].stride == (2, 2) and not isinstance(down.shortcut, torch.nn.Identity)
    assert se_block.se.reduce.out_channels == 20           # make_divisible(72 / 4, 4)
    assert isinstance(se_block.se.gate, torch.nn.Hardsigmoid)


def test_resolution_halves_four_times(model: GhostNet) -> None:
    with torch.no_grad():
        x = model.stem(torch.randn(1, 3, 112, 112))
        assert x.shape[-2:] == (112, 112)
        x = model.blocks(x)
    assert x.shape[-2:] == (7, 7) and sum(s == 2 for *_, s in BLOCKS) == 4


def test_map_size_follows_input_size() -> None:
    check_map_size_config(GhostNetConfig)


def test_upper_half_face_input() -> None:
    cfg = GhostNetConfig(input_size=(60, 112), embedding_size=64)
    net = GhostNet(cfg).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, 60, 112))
    assert out.shape == (2, 64) and torch.isfinite(out).all()
    assert count_parameters(net) == expected_params(embedding=64, out_h=4)


def test_wrong_input_size_is_a_clear_error(model: GhostNet) -> None:
    with pytest.raises(ValueError, match="input_size"):
        model(torch.randn(2, 3, 112, 96))


def test_invalid_configs_rejected() -> None:
    for bad in (dict(width=0.0), dict(embedding_size=0), dict(drop_ratio=1.0), dict(input_size=(112,)),
                dict(out_w=6)):
        with pytest.raises(ValueError):
            GhostNetConfig(**bad)


# -- behaviour and the core contract -----------------------------------------------------------

def test_contract_and_unnormalised_output(model: GhostNet) -> None:
    check_backbone(model, batch=2)
    model.eval()
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        out, single = model(x), model(x[:1])
    assert 0.1 < out.abs().mean().item() < 10
    assert not torch.allclose(out.norm(dim=1), torch.ones(2))  # raw embeddings, no L2 step
    torch.testing.assert_close(single, out[:1], rtol=1e-5, atol=1e-5)


def test_export_and_channels_last(model: GhostNet) -> None:
    check_backbone_export(model)


# -- registration ------------------------------------------------------------------------------

def test_plugin_module_does_not_import_torch() -> None:
    assert_light_module("facex_backbone_ghostnet.plugin")


def test_built_by_name_with_width() -> None:
    from facex_backbone_ghostnet import plugin

    (comp,) = plugin.facex_components()
    assert comp.name == "ghostnet" and comp.kind == "backbone" and comp.config is GhostNetConfig
    assert comp.factory == "facex_backbone_ghostnet.ghostnet:GhostNet" and "26.76M" in comp.summary
    net = facex_core.build("backbone", "ghostnet", width=0.5, embedding_size=128)
    assert isinstance(net, GhostNet) and net.embedding_size == 128
    assert count_parameters(net) == expected_params(0.5, embedding=128)


# -- feature taps (Backbone.stages, used by distillation) ---------------------------------------


def test_stages_end_each_resolution() -> None:
    # width 0.5 at 32×32: c(x) = make_divisible(x/2, 4); last blocks at 16, 8, 4, 2 px: 12, 20, 56, 80 ch
    torch.manual_seed(0)
    net = GhostNet(GhostNetConfig(width=0.5, embedding_size=16, input_size=(32, 32)))
    check_backbone_stages(net, {"stem": (8, 32, 32), "stage1": (12, 16, 16), "stage2": (20, 8, 8),
                            "stage3": (56, 4, 4), "stage4": (80, 2, 2), "final": (480, 2, 2)})
