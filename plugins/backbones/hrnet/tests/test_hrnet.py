"""Tests of the HRNet backbone (CPU, batch 2; forward passes only on a reduced layout)."""
from __future__ import annotations

import pytest
import torch

import facex_core
from facex_backbone_hrnet.hrnet import HRNet
from facex_backbone_hrnet import plugin
from facex_backbone_hrnet.plugin import HRNetConfig
from facex_core.testing import (assert_light_module, check_backbone, check_backbone_export, check_backbone_stages,
                                check_map_size_config, count_parameters, torch_threads)

#: FaceX-Zoo's measured HRNet (yaml default, W18 widths): total and flatten+linear output layer, in M.
REFERENCE_PARAMS_M = 70.631
REFERENCE_OUTPUT_LAYER_M = 51.381

#: A layout with every kind of part (4 branches, all fusion paths, the head) but tiny widths and
#: one module / one block everywhere, for forward, backward and export checks.
SMALL = dict(width=4, stage1_channels=8, stage1_blocks=1, modules=(1, 1, 1), blocks=(1, 1, 1),
             head_channels=(4, 8, 16, 32), final_channels=64, embedding_size=64)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Intra-op threads only add contention for batch-2 CPU passes on a shared 2-core machine."""
    with torch_threads(1):
        yield


# -- an independent count, from per-layer formulas -----------------------------------------------

def conv(c_in: int, c_out: int, k: int, bias: bool = False) -> int:
    return c_in * c_out * k * k + (c_out if bias else 0)


def bn(c: int) -> int:
    return 2 * c


def bottleneck(c_in: int, planes: int) -> int:
    out = 4 * planes
    shortcut = conv(c_in, out, 1) + bn(out) if c_in != out else 0
    body = conv(c_in, planes, 1) + conv(planes, planes, 3) + conv(planes, out, 1) + 2 * bn(planes) + bn(out)
    return body + shortcut


def fusion(chs: list[int]) -> int:
    total = 0
    for i, c_i in enumerate(chs):
        for j, c_j in enumerate(chs):
            if j > i:                       # 1x1 conv-BN then upsample
                total += conv(c_j, c_i, 1) + bn(c_i)
            for k in range(i - j):          # chain of 3x3 s2 conv-BNs, widening in the last
                last = k == i - j - 1
                total += conv(c_j, c_i if last else c_j, 3) + bn(c_i if last else c_j)
    return total


def expected_params(width: int = 18, stage1_channels: int = 64, stage1_blocks: int = 4,
                    modules: tuple[int, ...] = (1, 4, 3), blocks: tuple[int, ...] = (4, 4, 4),
                    head_channels: tuple[int, ...] = (32, 64, 128, 256), final_channels: int = 2048,
                    embedding_size: int = 512, out_hw: int = 49) -> int:
    total = conv(3, 64, 3) + bn(64) + conv(64, 64, 3) + bn(64)
    total += bottleneck(64, stage1_channels)
    total += (stage1_blocks - 1) * bottleneck(4 * stage1_channels, stage1_channels)
    previous = [4 * stage1_channels]
    for n_branches, n_modules, n_blocks in zip((2, 3, 4), modules, blocks):
        chs = [width * 2 ** i for i in range(n_branches)]
        total += sum(conv(p, c, 3) + bn(c) for p, c in zip(previous, chs) if p != c)
        total += conv(previous[-1], chs[-1], 3) + bn(chs[-1])                   # the new branch
        total += n_modules * (sum(n_blocks * 2 * (conv(c, c, 3) + bn(c)) for c in chs) + fusion(chs))
        previous = chs
    head = [4 * h for h in head_channels]
    total += sum(bottleneck(c, h) for c, h in zip(previous, head_channels))
    total += sum(conv(a, b, 3, bias=True) + bn(b) for a, b in zip(head[:-1], head[1:]))
    total += conv(head[-1], final_channels, 1, bias=True) + bn(final_channels)
    return total + final_channels * out_hw * embedding_size + bn(embedding_size)


@pytest.fixture(scope="module")
def w18() -> HRNet:
    with torch.device("meta"):  # layout and counts only: no memory, no initialisation
        return HRNet(HRNetConfig())


@pytest.fixture(scope="module")
def small() -> HRNet:
    torch.manual_seed(0)
    return HRNet(HRNetConfig(**SMALL))


# -- size and layout ---------------------------------------------------------------------------

def test_hrnet_w18_param_count_matches_reference(w18: HRNet) -> None:
    count = count_parameters(w18)
    assert count == expected_params() == 70_631_252
    assert abs(count / 1e6 - REFERENCE_PARAMS_M) / REFERENCE_PARAMS_M < 0.005
    output = count_parameters(w18.output_layer)
    assert output == 2048 * 7 * 7 * 512 + 2 * 512
    assert abs(output / 1e6 - REFERENCE_OUTPUT_LAYER_M) < 0.001


def test_hrnet_w18_stage_layout(w18: HRNet) -> None:
    assert [len(w18.stage2), len(w18.stage3), len(w18.stage4)] == [1, 4, 3]
    assert len(w18.layer1) == 4 and w18.layer1[0].conv3.out_channels == 256
    last = w18.stage4[-1]
    assert [branch[0].conv1.in_channels for branch in last.branches] == [18, 36, 72, 144]
    assert all(len(branch) == 4 for branch in last.branches)
    assert w18.conv2.stride == (1, 1)   # FaceX-Zoo keeps 56x56 after the stem
    assert w18.final_layer[0].out_channels == 2048


def test_reduced_layout_param_count_matches_formula(small: HRNet) -> None:
    assert count_parameters(small) == expected_params(**SMALL)
    assert count_parameters(HRNet(HRNetConfig(modules=(2, 1, 2), blocks=(1, 2, 3), width=8,
                                              final_channels=32, embedding_size=16))) \
        == expected_params(modules=(2, 1, 2), blocks=(1, 2, 3), width=8, final_channels=32, embedding_size=16)


def test_state_dict_names_follow_cls_hrnet(w18: HRNet) -> None:
    shapes = {k: tuple(v.shape) for k, v in w18.state_dict().items()}
    assert shapes["conv1.weight"] == (64, 3, 3, 3)
    assert shapes["layer1.0.downsample.0.weight"] == (256, 64, 1, 1)
    assert shapes["transition1.0.0.weight"] == (18, 256, 3, 3)
    assert shapes["transition1.1.0.0.weight"] == (36, 256, 3, 3)
    assert shapes["transition3.3.0.0.weight"] == (144, 72, 3, 3)
    assert shapes["stage3.3.branches.2.3.conv2.weight"] == (72, 72, 3, 3)
    assert shapes["stage4.2.fuse_layers.0.3.0.weight"] == (18, 144, 1, 1)       # up 144 -> 18
    assert shapes["stage4.2.fuse_layers.3.0.2.0.weight"] == (144, 18, 3, 3)     # 3rd s2 conv, 18 -> 144
    assert shapes["incre_modules.3.0.conv3.weight"] == (1024, 256, 1, 1)
    assert shapes["downsamp_modules.2.0.bias"] == (1024,)
    assert shapes["final_layer.0.weight"] == (2048, 1024, 1, 1)
    assert shapes["output_layer.linear.weight"] == (512, 2048 * 49)
    assert "output_layer.linear.bias" not in shapes


# -- behaviour ---------------------------------------------------------------------------------

def test_reduced_hrnet_meets_backbone_contract(small: HRNet) -> None:
    check_backbone(small)


def test_reduced_hrnet_exports(small: HRNet) -> None:
    check_backbone_export(small)


def test_map_size_follows_input_size() -> None:
    check_map_size_config(HRNetConfig)


def test_upper_half_face_input() -> None:
    cfg = HRNetConfig(input_size=(60, 112), out_h=4, **SMALL)
    net = HRNet(cfg)
    # the four branches run at 30x56, 15x28, 8x14, 4x7
    assert [tuple(path[-1].size) for path in net.stage4[0].fuse_layers[0][1:]] == [(30, 56)] * 3
    assert [tuple(path[-1].size) for path in net.stage4[0].fuse_layers[2][3:]] == [(8, 14)]
    assert net.stage4[0].fuse_layers[3][2][0][0].stride == (2, 2)   # 8x14 -> 4x7
    # odd sides: fusion upsamples to the exact size of the target branch (8 -> 15, not 16)
    assert net.stage4[0].fuse_layers[1][2][2].size == (15, 28)
    assert count_parameters(net) == expected_params(**SMALL, out_hw=4 * 7)
    check_backbone(net)


def test_fusion_sums_every_branch(small: HRNet) -> None:
    """Zeroing the lowest branch's contribution changes every output of the last module."""
    module = small.stage4[-1].eval()
    sizes = [(56, 56), (28, 28), (14, 14), (7, 7)]
    xs = [torch.randn(1, module.branches[i][0].conv1.in_channels, *sizes[i]) for i in range(4)]
    with torch.no_grad():
        ref = module(list(xs))
        changed = module([*xs[:3], xs[3] + 1.0])
    assert all(not torch.allclose(a, b) for a, b in zip(ref, changed))


def test_wrong_input_size_is_a_clear_error(small: HRNet) -> None:
    with pytest.raises(ValueError, match="input_size"):
        small(torch.randn(2, 3, 96, 96))


@pytest.mark.parametrize("bad", [dict(width=0), dict(modules=(1, 4)), dict(blocks=(4, 0, 4)),
                                 dict(head_channels=(32, 64, 128)), dict(embedding_size=0),
                                 dict(input_size=(112,))])
def test_invalid_configs_rejected(bad: dict) -> None:
    with pytest.raises(ValueError):
        HRNetConfig(**bad)


# -- registration ------------------------------------------------------------------------------

def test_built_by_name_from_toml_style_values() -> None:
    values = {k: list(v) if isinstance(v, tuple) else v for k, v in SMALL.items()}
    net = facex_core.build("backbone", "hrnet_w18", **values)
    assert isinstance(net, HRNet) and net.config.modules == (1, 1, 1) and net.embedding_size == 64


def test_plugin_module_does_not_import_torch() -> None:
    assert_light_module("facex_backbone_hrnet.plugin")
    assert [c.name for c in plugin.facex_components()] == ["hrnet_w18"]


# -- feature taps (Backbone.stages, used by distillation) ---------------------------------------


def test_stages_are_single_maps_by_resolution(small: HRNet) -> None:
    # 112: stem and layer1 at 56; the four streams (head bottleneck planes 4, 8, 16, 32, ×4) at 56 … 7
    check_backbone_stages(small, {"stem": (64, 56, 56), "layer1": (32, 56, 56), "stage1": (16, 56, 56),
                              "stage2": (32, 28, 28), "stage3": (64, 14, 14), "stage4": (128, 7, 7),
                              "final": (64, 7, 7)})
