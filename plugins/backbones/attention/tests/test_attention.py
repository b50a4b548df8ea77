"""Tests of the Residual Attention Network backbones (CPU, batch 2; forward passes only at reduced width)."""
from __future__ import annotations

import pytest
import torch

import facex_core
from facex_backbone_attention.attention import MASK_LEVELS, AttentionModule, ResidualAttentionNet
from facex_backbone_attention import plugin
from facex_backbone_attention.plugin import Attention92Config, AttentionNetConfig
from facex_core.testing import (assert_light_module, check_backbone, check_backbone_export, check_backbone_stages,
                                check_map_size_config, count_parameters, torch_threads)

#: FaceX-Zoo's measured parameter counts (M). They include a 1x1 shortcut conv that FaceX-Zoo builds
#: in every residual block but uses only where channels or stride change; THOP, which counts only
#: layers that run, reports 81.139 / 101.794 M.
REFERENCE_PARAMS_M = {"attention56": 98.965, "attention92": 134.562}
THOP_PARAMS_M = {"attention56": 81.139, "attention92": 101.794}
CONFIGS = {"attention56": AttentionNetConfig, "attention92": Attention92Config}

#: Width 8: stages of 32/64/128/256 channels, same depth and mask hourglasses as the real nets.
SMALL = dict(width=8, embedding_size=64)


@pytest.fixture(scope="module", autouse=True)
def single_intra_op_thread():
    """On a shared 2-core machine batch-2 passes run faster without intra-op threading."""
    with torch_threads(1):
        yield


# -- independent counts, from per-layer formulas ------------------------------------------------

def residual_block(c_in: int, c_out: int, stride: int = 1) -> int:
    """BN(c_in) + 1x1 + BN + 3x3 + BN + 1x1 (bottleneck c_out/4), + a 1x1 shortcut when the shape changes."""
    q = c_out // 4
    shortcut = c_in * c_out if (c_in != c_out or stride != 1) else 0
    return 2 * c_in + c_in * q + 2 * q + 9 * q * q + 2 * q + q * c_out + shortcut


def identity_blocks(levels: int) -> int:
    """Residual blocks in an attention module: first, 2 trunk, levels+1 down, levels-1 skip and
    levels-1 up, last."""
    return 3 * levels + 3


def attention_module(c: int, levels: int) -> int:
    mask_head = 2 * (2 * c + c * c)
    return identity_blocks(levels) * residual_block(c, c) + mask_head


def expected_params(modules: tuple[int, int, int], width: int = 64, embedding_size: int = 512,
                    out_hw: int = 49) -> int:
    w = width
    total = 3 * w * 49 + 2 * w                                   # 7x7 stem + BN
    previous = w
    for stage, (c, count, levels) in enumerate(zip((4 * w, 8 * w, 16 * w), modules, MASK_LEVELS)):
        total += residual_block(previous, c, 1 if stage == 0 else 2) + count * attention_module(c, levels)
        previous = c
    total += residual_block(previous, 32 * w, 2) + 2 * residual_block(32 * w, 32 * w)
    return total + 32 * w * out_hw * embedding_size + 2 * embedding_size


def facexzoo_unused_shortcuts(modules: tuple[int, int, int], width: int = 64) -> int:
    """Parameters of the shortcut convs FaceX-Zoo builds in every identity block but never runs."""
    per_stage = sum(count * identity_blocks(levels) * c * c
                    for c, count, levels in zip((4 * width, 8 * width, 16 * width), modules, MASK_LEVELS))
    return per_stage + 2 * (32 * width) ** 2


@pytest.fixture(scope="module")
def small() -> ResidualAttentionNet:
    torch.manual_seed(0)
    return ResidualAttentionNet(AttentionNetConfig(**SMALL))


# -- size and layout ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["attention56", "attention92"])
def test_param_count_is_facexzoo_reference_without_unused_shortcuts(name: str) -> None:
    cfg = CONFIGS[name]()
    with torch.device("meta"):  # shapes only: counting needs no memory or initialisation
        count = count_parameters(ResidualAttentionNet(cfg))
    assert count == expected_params(cfg.modules)
    assert count == pytest.approx(THOP_PARAMS_M[name] * 1e6, rel=0.005)
    with_unused = count + facexzoo_unused_shortcuts(cfg.modules)
    assert abs(with_unused / 1e6 - REFERENCE_PARAMS_M[name]) < 0.001


def test_shortcut_conv_only_where_shape_changes(small: ResidualAttentionNet) -> None:
    names = [k for k in small.state_dict() if k.endswith("conv4.weight")]
    # the four stride/width-changing blocks of the body, nothing inside the attention modules
    assert names == ["attention_body.0.conv4.weight", "attention_body.2.conv4.weight",
                     "attention_body.4.conv4.weight", "attention_body.6.conv4.weight"]


def test_state_dict_names_follow_facexzoo(small: ResidualAttentionNet) -> None:
    keys = set(small.state_dict())
    stage1, stage2, stage3 = (f"attention_body.{i}." for i in (1, 3, 5))
    for name in ("first_residual_blocks.bn1.weight", "trunk_branches.1.conv3.weight",
                 "softmax1_blocks.conv1.weight", "skip2_connection_residual_block.conv2.weight",
                 "softmax3_blocks.1.conv2.weight", "softmax5_blocks.bn3.weight",
                 "softmax6_blocks.2.weight", "softmax6_blocks.5.weight", "last_blocks.conv3.weight"):
        assert stage1 + name in keys
    for name in ("softmax2_blocks.1.conv1.weight", "softmax3_blocks.conv1.weight",
                 "softmax4_blocks.5.weight"):
        assert stage2 + name in keys
    for name in ("softmax1_blocks.1.conv1.weight", "softmax2_blocks.5.weight"):
        assert stage3 + name in keys
    assert "conv1.0.weight" in keys and "output_layer.linear.weight" in keys
    assert "output_layer.linear.bias" not in keys


def test_attention92_stage_modules() -> None:
    net = ResidualAttentionNet(Attention92Config(**SMALL))
    kinds = [type(m).__name__ for m in net.attention_body]
    assert kinds.count("AttentionModule") == 6
    assert [m.levels for m in net.attention_body if isinstance(m, AttentionModule)] == [3, 2, 2, 1, 1, 1]
    assert count_parameters(net) == expected_params((1, 2, 3), **SMALL)


# -- behaviour ---------------------------------------------------------------------------------

def test_reduced_attention56_meets_backbone_contract(small: ResidualAttentionNet) -> None:
    check_backbone(small)


def test_reduced_attention56_exports(small: ResidualAttentionNet) -> None:
    check_backbone_export(small)


def test_attention_residual_learning() -> None:
    """With the mask head's last conv zeroed, M = sigmoid(0) = 1/2 everywhere and the module
    reduces to last_blocks((1 + 1/2) * trunk) (paper eq. 3)."""
    torch.manual_seed(0)
    module = AttentionModule(16, (14, 14), levels=2).eval()
    with torch.no_grad():
        module.softmax4_blocks[5].weight.zero_()
        x = torch.randn(2, 16, 14, 14)
        trunk = module.trunk_branches(module.first_residual_blocks(x))
        torch.testing.assert_close(module(x), module.last_blocks(1.5 * trunk))


@pytest.mark.parametrize("config_cls", [AttentionNetConfig, Attention92Config])
def test_map_size_follows_input_size(config_cls: type) -> None:
    check_map_size_config(config_cls)


def test_upper_half_face_input() -> None:
    cfg = Attention92Config(input_size=(60, 112), out_h=4, out_w=7, **SMALL)
    net = ResidualAttentionNet(cfg)
    # the stage-1 mask hourglass descends 30x56 -> 15x28 -> 8x14 -> 4x7 and upsamples back to those sizes
    assert net.attention_body[1].sizes == [(30, 56), (15, 28), (8, 14), (4, 7)]
    assert count_parameters(net) == expected_params((1, 2, 3), **SMALL, out_hw=4 * 7)
    check_backbone(net)


def test_wrong_input_size_is_a_clear_error(small: ResidualAttentionNet) -> None:
    with pytest.raises(ValueError, match="input_size"):
        small(torch.randn(2, 3, 60, 112))


@pytest.mark.parametrize("bad", [dict(width=0), dict(modules=(1, 1)), dict(modules=(1, -1, 1)),
                                 dict(embedding_size=0), dict(input_size=(0, 112))])
def test_invalid_configs_rejected(bad: dict) -> None:
    with pytest.raises(ValueError):
        AttentionNetConfig(**bad)


# -- registration ------------------------------------------------------------------------------

@pytest.mark.parametrize("name, modules", [("attention56", (1, 1, 1)), ("attention92", (1, 2, 3))])
def test_built_by_name(name: str, modules: tuple[int, int, int]) -> None:
    net = facex_core.build("backbone", name, width=4, embedding_size=32)
    assert isinstance(net, ResidualAttentionNet) and net.config.modules == modules
    assert net.embedding_size == 32


def test_plugin_module_does_not_import_torch() -> None:
    assert_light_module("facex_backbone_attention.plugin")
    assert [c.name for c in plugin.facex_components()] == ["attention56", "attention92"]


# -- feature taps (Backbone.stages, used by distillation) ---------------------------------------


def test_stages_end_each_resolution() -> None:
    # width 8 at 32×32: conv1 halves (8 ch); stages of 4w, 8w, 16w channels, then 32w at 1/16
    torch.manual_seed(0)
    net = ResidualAttentionNet(AttentionNetConfig(**SMALL, input_size=(32, 32)))
    check_backbone_stages(net, {"stem": (8, 16, 16), "stage1": (32, 16, 16), "stage2": (64, 8, 8),
                            "stage3": (128, 4, 4), "stage4": (256, 2, 2)})
    deep = Attention92Config(**SMALL, input_size=(32, 32))  # modules 1, 2, 3: stage k ends after its k modules
    net = ResidualAttentionNet(deep)
    assert net.stages()["stage3"] is net.attention_body[1 + 1 + 1 + 2 + 1 + 3 - 1]
