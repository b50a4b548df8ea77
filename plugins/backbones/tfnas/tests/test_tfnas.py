"""Tests of the TF-NAS-A backbone (CPU, batch 2, a few seconds in all)."""
from __future__ import annotations

import pytest
import torch

import facex_core
from facex_core.testing import (assert_light_module, check_backbone, check_backbone_export, check_backbone_stages,
                                check_map_size_config, count_parameters, torch_threads)
from facex_backbone_tfnas import plugin
from facex_backbone_tfnas.plugin import TFNASConfig
from facex_backbone_tfnas.tfnas import TFNAS, TFNAS_A

#: FaceX-Zoo's measured parameter count of TF-NAS-A (feat_dim 512, 112x112), in millions.
REFERENCE_PARAMS_M = 39.591


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    """Batch-2 forwards gain little from intra-op threads on a shared 2-core machine."""
    with torch_threads(1):
        yield


# -- an independent parameter count, from the searched table and per-layer formulas --------------

def conv_bn(c_in: int, c_out: int, k: int, groups: int = 1) -> int:
    return c_in // groups * c_out * k * k + 2 * c_out


def block_params(c_in: int, mid: int, se: int, c_out: int, k: int) -> int:
    total = 0
    if mid > c_in:
        total += conv_bn(c_in, mid, 1)
    else:
        mid = c_in
    total += conv_bn(mid, mid, k, groups=mid)
    if se:
        total += mid * se + se + se * mid + mid          # two 1x1 convs with bias
    return total + conv_bn(mid, c_out, 1)


def expected_params(embedding: int = 512, out_h: int = 7, out_w: int = 7) -> int:
    total = conv_bn(3, 32, 3) + block_params(32, 32, 8, 16, 3)
    for _, blocks in TFNAS_A:
        total += sum(block_params(i, m, s, o, k) for i, m, s, o, k, _ in blocks)
    total += conv_bn(320, 1280, 1)
    return total + 1280 * out_h * out_w * embedding + embedding + 2 * embedding


# -- size and the FaceX-Zoo reference ------------------------------------------------------------

def test_tfnas_a_param_count_matches_reference() -> None:
    net = TFNAS(TFNASConfig())
    count = count_parameters(net)
    assert count == expected_params()
    assert abs(count / 1e6 - REFERENCE_PARAMS_M) / REFERENCE_PARAMS_M < 0.005
    # FaceX-Zoo: 32.114M of it is the output layer (Linear 1280*7*7 -> 512 + BN1d)
    assert count_parameters(net.output_layer) == 1280 * 49 * 512 + 512 + 1024


def test_searched_layout_and_module_names() -> None:
    net = TFNAS(TFNASConfig())
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert shapes["first_stem.conv.weight"] == (32, 3, 3, 3)
    assert "second_stem.inverted_bottleneck.conv.weight" not in shapes   # mid 32 = in 32
    assert shapes["second_stem.squeeze_excite.reduce.weight"] == (8, 32, 1, 1)
    assert shapes["stage1.0.inverted_bottleneck.conv.weight"] == (83, 16, 1, 1)
    assert shapes["stage1.1.depth_conv.conv.weight"] == (128, 1, 5, 5)
    assert shapes["stage5.3.squeeze_excite.expand.weight"] == (1359, 384, 1, 1)
    assert shapes["stage6.0.point_linear.conv.weight"] == (320, 1203, 1, 1)
    assert shapes["feature_mix_layer.conv.weight"] == (1280, 320, 1, 1)
    assert isinstance(net.stage1[0].depth_conv.act, torch.nn.ReLU)
    assert isinstance(net.stage2[0].squeeze_excite.act, torch.nn.SiLU)   # SE uses the block's act
    assert [len(getattr(net, f"stage{i}")) for i in range(1, 7)] == [2, 3, 4, 4, 4, 1]
    assert [m.has_residual for m in net.stage4] == [False, True, True, True]


def test_resolution_halves_four_times() -> None:
    net = TFNAS(TFNASConfig(embedding_size=8)).eval()
    sizes = []
    hooks = [getattr(net, f"stage{i}").register_forward_hook(
        lambda _m, _i, out: sizes.append(tuple(out.shape[-2:]))) for i in range(1, 7)]
    with torch.no_grad():
        net(torch.randn(1, 3, 112, 112))
    for h in hooks:
        h.remove()
    assert sizes == [(56, 56), (28, 28), (14, 14), (14, 14), (7, 7), (7, 7)]


# -- contract, export, input sizes ---------------------------------------------------------------

def test_contract_when_built_by_name() -> None:
    net = facex_core.build("backbone", "tfnas_a", embedding_size=64)
    assert isinstance(net, TFNAS) and net.embedding_size == 64
    check_backbone(net, batch=2)


def test_export_and_channels_last() -> None:
    torch.manual_seed(0)
    net = TFNAS(TFNASConfig(embedding_size=64))
    check_backbone_export(net)   # calibrates BatchNorm first: uncalibrated, the eval output is ~1e-11
    with torch.no_grad():
        assert 0.1 < net(torch.randn(2, 3, 112, 112)).abs().mean().item() < 10


def test_map_size_follows_input_size() -> None:
    check_map_size_config(TFNASConfig)


def test_upper_half_face_input() -> None:
    cfg = TFNASConfig(input_size=(60, 112), out_h=4, out_w=7, embedding_size=64)
    net = TFNAS(cfg).eval()
    assert net.output_layer.linear.in_features == 1280 * 4 * 7
    with torch.no_grad():
        out = net(torch.randn(2, 3, 60, 112))
    assert out.shape == (2, 64) and torch.isfinite(out).all()
    assert count_parameters(net) == expected_params(embedding=64, out_h=4, out_w=7)


def test_embedding_is_not_normalised() -> None:
    net = TFNAS(TFNASConfig(embedding_size=16)).train()
    out = net(torch.randn(4, 3, 112, 112))
    assert not torch.allclose(out.norm(dim=1), torch.ones(4))


def test_invalid_configs_and_inputs_rejected() -> None:
    for bad in (dict(embedding_size=0), dict(dropout=1.0), dict(input_size=(0, 112))):
        with pytest.raises(ValueError):
            TFNASConfig(**bad)
    with pytest.raises(ValueError, match="input_size"):
        TFNAS(TFNASConfig(embedding_size=8))(torch.randn(1, 3, 60, 112))


# -- registration --------------------------------------------------------------------------------

def test_plugin_module_does_not_import_torch() -> None:
    assert_light_module("facex_backbone_tfnas.plugin")


def test_components_declared() -> None:
    (comp,) = plugin.facex_components()
    assert (comp.name, comp.kind, comp.config) == ("tfnas_a", "backbone", TFNASConfig)
    assert comp.factory == "facex_backbone_tfnas.tfnas:TFNAS"


# -- feature taps (Backbone.stages, used by distillation) ---------------------------------------


def test_stages_are_named_by_resolution() -> None:
    # 32×32: second stem 16 ch at 32; TF-NAS stages 1, 2, 4, 6 end the 16, 8, 4, 2 px maps; mix 1280
    torch.manual_seed(0)
    net = TFNAS(TFNASConfig(input_size=(32, 32), embedding_size=16))
    check_backbone_stages(net, {"stem": (16, 32, 32), "stage1": (24, 16, 16), "stage2": (40, 8, 8),
                            "stage3": (112, 4, 4), "stage4": (320, 2, 2), "final": (1280, 2, 2)})
