"""Tests of the LightCNN backbones (CPU, batch 2, a few seconds)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import facex_core
from facex_backbone_lightcnn.lightcnn import Downsample, LightCNN, MFMConv
from facex_backbone_lightcnn import plugin
from facex_backbone_lightcnn.plugin import LightCNN9Config, LightCNNConfig
from facex_core.testing import (assert_light_module, check_backbone, check_backbone_export, check_backbone_stages,
                                check_map_size_config, count_parameters, torch_threads)

#: FaceX-Zoo's measured LightCNN-29 (v2): total and BN2d-dropout-flatten-linear-BN1d output layer, in M.
REFERENCE_PARAMS_M = 11.596
REFERENCE_OUTPUT_LAYER_M = 3.213
#: LightCNN-9 has no working FaceX-Zoo reference; its count is derived in the README and below.
LIGHTCNN9_PARAMS = 4_503_904

#: LightCNN-29's depth and pooling with quarter-ish widths, for forward and export checks.
SMALL29 = dict(channels=(12, 24, 48, 32, 32), embedding_size=64)


@pytest.fixture(scope="module", autouse=True)
def serial_torch():
    """Batch-2 CPU passes on a shared 2-core machine: intra-op threads only contend."""
    with torch_threads(1):
        yield


# -- independent counts, from the paper's layer list ---------------------------------------------

def mfm(c_in: int, c_out: int, k: int) -> int:
    """A k×k convolution to 2·c_out maps, with bias (MFM itself has no parameters)."""
    return c_in * 2 * c_out * k * k + 2 * c_out


def expected_params(channels=(48, 96, 192, 128, 128), blocks=(0, 0, 0, 0), embedding_size=512,
                    out_hw=49) -> int:
    c0, *groups = channels
    total = mfm(3, c0, 5)                                                 # conv1, 5x5
    inputs = [c0, *groups[:-1]]
    for c_in, c_out, n_blocks in zip(inputs, groups, blocks):
        total += n_blocks * 2 * mfm(c_in, c_in, 3)                        # residual blocks
        total += mfm(c_in, c_in, 1) + mfm(c_in, c_out, 3)                 # conv{k}a 1x1, conv{k} 3x3
    c_last = groups[-1]
    return total + 2 * c_last + c_last * out_hw * embedding_size + embedding_size + 2 * embedding_size


@pytest.fixture(scope="module")
def lightcnn9() -> LightCNN:
    torch.manual_seed(0)
    return LightCNN(LightCNN9Config())


# -- size and layout ---------------------------------------------------------------------------

def test_lightcnn29_param_count_matches_reference() -> None:
    net = LightCNN(LightCNNConfig())
    count = count_parameters(net)
    assert count == expected_params(blocks=(1, 2, 3, 4)) == 11_596_320
    assert abs(count / 1e6 - REFERENCE_PARAMS_M) / REFERENCE_PARAMS_M < 0.005
    assert round(count_parameters(net.output_layer) / 1e6, 3) == REFERENCE_OUTPUT_LAYER_M
    assert net.config.depth == 29


def test_lightcnn9_param_count_matches_derivation(lightcnn9: LightCNN) -> None:
    assert count_parameters(lightcnn9) == expected_params() == LIGHTCNN9_PARAMS
    assert lightcnn9.config.depth == 9
    convs = [m for m in lightcnn9.modules() if isinstance(m, torch.nn.Conv2d)]
    # conv1, conv2a, conv2, conv3a, conv3, conv4a, conv4, conv5a, conv5 of the paper's 9-layer net
    assert [c.out_channels // 2 for c in convs] == [48, 48, 96, 96, 192, 192, 128, 128, 128]
    assert [c.kernel_size[0] for c in convs] == [5, 1, 3, 1, 3, 1, 3, 1, 3]


def test_state_dict_names_follow_facexzoo() -> None:
    keys = set(LightCNN(LightCNNConfig(**SMALL29)).state_dict())
    for name in ("conv1.filter.weight", "block1.0.conv1.filter.weight", "block4.3.conv2.filter.bias",
                 "group1.conv_a.filter.weight", "group4.conv.filter.weight", "output_layer.bn.running_mean",
                 "output_layer.linear.bias", "output_layer.bn_out.weight"):
        assert name in keys


# -- Max-Feature-Map and pooling -------------------------------------------------------------------

def test_mfm_keeps_elementwise_max_of_channel_halves() -> None:
    torch.manual_seed(0)
    layer = MFMConv(3, 5, kernel=3, padding=1)
    x = torch.randn(2, 3, 8, 8)
    raw = layer.filter(x)
    out = layer(x)
    assert raw.shape[1] == 10 and out.shape == (2, 5, 8, 8)
    torch.testing.assert_close(out, torch.where(raw[:, :5] >= raw[:, 5:], raw[:, :5], raw[:, 5:]))


def test_gradient_flows_only_through_the_winning_half() -> None:
    layer = MFMConv(1, 1, kernel=1, padding=0)
    with torch.no_grad():
        layer.filter.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
        layer.filter.bias.zero_()
    x = torch.tensor([[[[2.0]]]])             # first map wins (2 > -2)
    layer(x).sum().backward()
    assert layer.filter.weight.grad.flatten().tolist() == [2.0, 0.0]


def test_downsampling_matches_facexzoo_at_even_sizes_and_rounds_up_at_odd() -> None:
    x = torch.randn(2, 4, 14, 14)
    torch.testing.assert_close(Downsample(with_average=True)(x), F.max_pool2d(x, 2) + F.avg_pool2d(x, 2))
    torch.testing.assert_close(Downsample(with_average=False)(x), F.max_pool2d(x, 2))
    odd = torch.randn(1, 1, 15, 15)
    out = Downsample(with_average=True)(odd)
    assert out.shape[-2:] == (8, 8)
    # the last window holds one pixel: max + mean of it = twice that pixel
    torch.testing.assert_close(out[..., -1, -1], 2 * odd[..., -1, -1])


# -- behaviour ---------------------------------------------------------------------------------

def test_lightcnn9_meets_backbone_contract(lightcnn9: LightCNN) -> None:
    check_backbone(lightcnn9)


def test_lightcnn9_exports(lightcnn9: LightCNN) -> None:
    check_backbone_export(lightcnn9)


@pytest.mark.parametrize("config_cls", [LightCNNConfig, LightCNN9Config])
def test_map_size_follows_input_size(config_cls: type) -> None:
    check_map_size_config(config_cls)


def test_reduced_lightcnn29_upper_half_face_meets_contract_and_exports() -> None:
    cfg = LightCNNConfig(input_size=(60, 112), out_h=4, **SMALL29)
    net = LightCNN(cfg)
    assert count_parameters(net) == expected_params(blocks=(1, 2, 3, 4), out_hw=4 * 7, **SMALL29)
    check_backbone(net)
    check_backbone_export(net)   # ceil-mode average pooling agrees with onnxruntime at odd sizes


def test_dropout_acts_in_training_only(lightcnn9: LightCNN) -> None:
    assert lightcnn9.output_layer.dropout.p == 0.2
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        lightcnn9.train()
        assert not torch.allclose(lightcnn9(x), lightcnn9(x))   # same batch, new dropout mask
        lightcnn9.eval()
        torch.testing.assert_close(lightcnn9(x), lightcnn9(x), rtol=0, atol=0)


def test_wrong_input_size_is_a_clear_error(lightcnn9: LightCNN) -> None:
    with pytest.raises(ValueError, match="input_size"):
        lightcnn9(torch.randn(2, 3, 128, 128))


@pytest.mark.parametrize("bad", [dict(blocks=(1, 2, 3)), dict(blocks=(1, -1, 0, 0)), dict(pooling="avg"),
                                 dict(channels=(48, 96, 192, 128)), dict(dropout=1.0),
                                 dict(embedding_size=0)])
def test_invalid_configs_rejected(bad: dict) -> None:
    with pytest.raises(ValueError):
        LightCNNConfig(**bad)


# -- registration ------------------------------------------------------------------------------

@pytest.mark.parametrize("name, depth, pooling", [("lightcnn29", 29, "max+avg"), ("lightcnn9", 9, "max")])
def test_built_by_name(name: str, depth: int, pooling: str) -> None:
    net = facex_core.build("backbone", name, embedding_size=128, channels=[6, 12, 24, 16, 16])
    assert isinstance(net, LightCNN) and net.embedding_size == 128
    assert net.config.depth == depth and net.config.pooling == pooling


def test_plugin_module_does_not_import_torch() -> None:
    assert_light_module("facex_backbone_lightcnn.plugin")
    assert [c.name for c in plugin.facex_components()] == ["lightcnn29", "lightcnn9"]


# -- feature taps (Backbone.stages, used by distillation) ---------------------------------------


def test_stages_end_each_resolution() -> None:
    torch.manual_seed(0)
    net = LightCNN(LightCNNConfig(**SMALL29, input_size=(32, 32)))
    check_backbone_stages(net, {"stem": (12, 32, 32), "stage1": (24, 16, 16), "stage2": (48, 8, 8),
                            "stage3": (32, 4, 4), "stage4": (32, 2, 2)})
