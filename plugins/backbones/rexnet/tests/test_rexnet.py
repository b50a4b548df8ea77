"""Tests of the ReXNet backbone (CPU, batch 2, single thread)."""
from __future__ import annotations

import pytest
import torch

import facex_core
from facex_backbone_rexnet.plugin import ReXNetConfig
from facex_backbone_rexnet.rexnet import LinearBottleneck, ReXNet, channel_plan
from facex_core.testing import (assert_light_module, calibrate_batchnorm, check_backbone, check_backbone_export,
                                check_backbone_stages, check_map_size_config, count_parameters, torch_threads)

#: FaceX-Zoo's measured parameter counts of ReXNet-1.0 (feat_dim 512, 112x112), in millions.
REFERENCE_PARAMS_M = {False: 15.197, True: 16.22}
#: Exact counts of this plugin at the defaults (use_se off / on), as in the README.
EXACT_PARAMS = {False: 15_197_128, True: 16_219_873}
#: Output channels of the 16 blocks of ReXNet-1.0: 16 + 11.25 i, rounded half to even.
REXNET_1_0_CHANNELS = [16, 27, 38, 50, 61, 72, 84, 95, 106, 117, 128, 140, 151, 162, 174, 185]


def expected_params(use_se: bool = False, embedding: int = 512, out_h: int = 7, out_w: int = 7) -> int:
    """An independent count for ReXNet-1.0 from the channel list (BN = 2 parameters per channel)."""
    total = 27 * 32 + 2 * 32                                                   # stem
    c_in = 32
    for i, c_out in enumerate(REXNET_1_0_CHANNELS):
        mid = c_in if i == 0 else 6 * c_in
        if i > 0:
            total += c_in * mid + 2 * mid                                      # 1x1 expand
        total += 9 * mid + 2 * mid                                             # 3x3 depthwise
        if use_se and i >= 3:                                                  # stages 3-6
            r = mid // 12
            total += (mid * r + r) + 2 * r + (r * mid + mid)                   # conv, BN, conv
        total += mid * c_out + 2 * c_out                                       # 1x1 projection
        c_in = c_out
    total += 185 * 512 + 2 * 512                                               # final 1x1 conv
    return total + 2 * 512 + 512 * out_h * out_w * embedding + 3 * embedding   # output layer


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    """Small batches gain nothing from intra-op threads on a shared 2-core machine."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def model() -> ReXNet:
    torch.manual_seed(0)
    return calibrate_batchnorm(ReXNet(ReXNetConfig()))


# -- sizes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("use_se", [False, True])
def test_param_count_matches_reference(use_se: bool) -> None:
    with torch.device("meta"):
        net = ReXNet(ReXNetConfig(use_se=use_se))
    count = count_parameters(net)
    assert count == expected_params(use_se) == EXACT_PARAMS[use_se]
    reference = REFERENCE_PARAMS_M[use_se]
    assert abs(count / 1e6 - reference) / reference < 0.005


def test_channels_grow_linearly() -> None:
    stem, plan = channel_plan(ReXNetConfig())
    assert stem == 32 and plan[0] == (32, 16)
    assert [c_out for _, c_out in plan] == REXNET_1_0_CHANNELS
    assert all(c_in == prev for (c_in, _), (_, prev) in zip(plan[1:], plan))


def test_depth_mult_adds_blocks_per_stage() -> None:
    with torch.device("meta"):
        net = ReXNet(ReXNetConfig(depth_mult=1.5))
    assert len(net.blocks) == sum((2, 3, 3, 5, 5, 8))  # ceil(n * 1.5) of 1,2,2,3,3,5
    assert sum(b.depthwise[0].stride == (2, 2) for b in net.blocks) == 4


@pytest.mark.parametrize("width_mult", [0.5, 1.3])
def test_other_widths_run(width_mult: float) -> None:
    # FaceX-Zoo's embedding layer is fixed at 512 channels, so any width_mult != 1 fails there
    torch.manual_seed(0)
    net = ReXNet(ReXNetConfig(width_mult=width_mult, use_se=True, input_size=(32, 32), embedding_size=64))
    last = int(512 * width_mult)
    assert net.final[0].out_channels == net.output_layer.bn.num_features == last
    assert net.output_layer.linear.in_features == last * 2 * 2
    check_backbone(net, batch=2)


# -- layout --------------------------------------------------------------------------------------

def test_partial_identity_on_widening_blocks() -> None:
    torch.manual_seed(0)
    block = LinearBottleneck(8, 12, 6, 1, se_ratio=None).eval()
    x = torch.randn(2, 8, 5, 5)
    with torch.no_grad():
        out = block(x)
        branch = block.project(block.act(block.se(block.depthwise(block.expand(x)))))
    torch.testing.assert_close(out[:, :8], branch[:, :8] + x)
    torch.testing.assert_close(out[:, 8:], branch[:, 8:])
    assert not LinearBottleneck(8, 12, 6, 2, se_ratio=None).shortcut
    assert not LinearBottleneck(32, 16, 1, 1, se_ratio=None).shortcut  # the narrowing first block


def test_squeeze_excitation_placement() -> None:
    plain = ReXNet(ReXNetConfig(input_size=(32, 32)))
    assert all(isinstance(b.se, torch.nn.Identity) for b in plain.blocks)
    with_se = ReXNet(ReXNetConfig(use_se=True, input_size=(32, 32)))
    flags = [not isinstance(b.se, torch.nn.Identity) for b in with_se.blocks]
    assert flags == [False] * 3 + [True] * 13                      # stages 3-6 of 1,2,2,3,3,5
    se = with_se.blocks[3].se
    assert se.reduce.out_channels == 6 * 38 // 12                  # C // se_ratio
    assert isinstance(se.act[0], torch.nn.BatchNorm2d) and isinstance(se.gate, torch.nn.Sigmoid)


def test_map_size_follows_input_size() -> None:
    check_map_size_config(ReXNetConfig)


def test_upper_half_face_input() -> None:
    cfg = ReXNetConfig(input_size=(60, 112), embedding_size=64)
    net = ReXNet(cfg).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, 60, 112))
    assert out.shape == (2, 64) and torch.isfinite(out).all()
    assert count_parameters(net) == expected_params(embedding=64, out_h=4)


def test_wrong_input_size_is_a_clear_error(model: ReXNet) -> None:
    with pytest.raises(ValueError, match="input_size"):
        model(torch.randn(2, 3, 60, 112))


def test_invalid_configs_rejected() -> None:
    for bad in (dict(width_mult=0.0), dict(depth_mult=-1.0), dict(se_ratio=0), dict(input_ch=0),
                dict(embedding_size=0), dict(dropout_ratio=1.0), dict(out_h=4)):
        with pytest.raises(ValueError):
            ReXNetConfig(**bad)


# -- behaviour and the core contract -----------------------------------------------------------

def test_contract_and_eval_determinism(model: ReXNet) -> None:
    check_backbone(model, batch=2)
    model.eval()
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        out, single = model(x), model(x[:1])
    assert 0.1 < out.abs().mean().item() < 10
    torch.testing.assert_close(single, out[:1], rtol=1e-5, atol=1e-5)


def test_export_and_channels_last(model: ReXNet) -> None:
    check_backbone_export(model)


def test_se_variant_contract() -> None:
    torch.manual_seed(0)
    check_backbone(ReXNet(ReXNetConfig(use_se=True, embedding_size=64)), batch=2)


# -- registration ------------------------------------------------------------------------------

def test_plugin_module_does_not_import_torch() -> None:
    assert_light_module("facex_backbone_rexnet.plugin")


def test_built_by_name_with_se() -> None:
    from facex_backbone_rexnet import plugin

    (comp,) = plugin.facex_components()
    assert comp.name == "rexnet_1_0" and comp.kind == "backbone" and comp.config is ReXNetConfig
    assert comp.factory == "facex_backbone_rexnet.rexnet:ReXNet" and "15.20M" in comp.summary
    net = facex_core.build("backbone", "rexnet_1_0", use_se=True, embedding_size=128)
    assert isinstance(net, ReXNet) and net.embedding_size == 128
    assert count_parameters(net) == expected_params(use_se=True, embedding=128)


# -- feature taps (Backbone.stages, used by distillation) ---------------------------------------


def test_stages_end_each_resolution() -> None:
    # 32×32, width 1: the last bottleneck at 16, 8, 4, 2 px has 38, 61, 128, 185 channels (16 + 180·k/16)
    torch.manual_seed(0)
    net = ReXNet(ReXNetConfig(input_size=(32, 32), embedding_size=16))
    check_backbone_stages(net, {"stem": (32, 32, 32), "stage1": (38, 16, 16), "stage2": (61, 8, 8),
                            "stage3": (128, 4, 4), "stage4": (185, 2, 2), "final": (512, 2, 2)})
    deeper = ReXNet(ReXNetConfig(input_size=(32, 32), embedding_size=16, depth_mult=1.5))
    assert deeper.stages()["stage4"] is deeper.blocks[-1]
