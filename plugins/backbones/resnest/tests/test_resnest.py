"""Tests of the ResNeSt backbones (CPU, batch 2; forwards use a reduced network)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import facex_core
from facex_core.testing import (assert_light_module, check_backbone, check_backbone_export, check_backbone_stages,
                                check_map_size_config, count_parameters, torch_threads)
from facex_backbone_resnest import plugin
from facex_backbone_resnest.plugin import LAYERS, ResNeSt50Config, ResNeSt101Config, ResNeStConfig
from facex_backbone_resnest.resnest import ResNeSt, SplitAttentionConv

#: FaceX-Zoo's measured parameter counts (feat_dim 512, 112x112), in millions. Its ResNeSt-101 can
#: be constructed but not run: its 64-channel input layer feeds a first block built for 128.
REFERENCE_PARAMS_M = {50: 76.793, 101: 97.501}
#: One block per stage, a small input, a short embedding: every kind of block, fast.
SMALL = dict(layers=(1, 1, 1, 1), input_size=(48, 48), embedding_size=64)


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    """Batch-2 forwards gain little from intra-op threads on a shared 2-core machine."""
    with torch_threads(1):
        yield


# -- an independent parameter count, from the layer list ----------------------------------------

def bn(c: int) -> int:
    return 2 * c


def bottleneck(c_in: int, width: int, projected: bool, radix: int = 2) -> int:
    hidden = max(width * radix // 4, 32)
    split_attention = (width // radix * width * radix * 9 if radix > 1 else width * width * 9) \
        + bn(width * radix) + width * hidden + hidden + bn(hidden) + hidden * width * radix + width * radix
    total = c_in * width + bn(width) + split_attention + width * 4 * width + bn(4 * width)
    return total + (c_in * 4 * width + bn(4 * width) if projected else 0)


def expected_params(layers, stem: int, embedding: int = 512, out_h: int = 7, out_w: int = 7) -> int:
    total = 3 * stem * 9 + bn(stem) + stem          # input layer: conv, BN, PReLU
    c_in = stem
    for width, count in zip((64, 128, 256, 512), layers):
        for i in range(count):
            total += bottleneck(c_in, width, projected=i == 0)
            c_in = 4 * width
    return total + bn(2048) + 2048 * out_h * out_w * embedding + embedding + bn(embedding)


# -- sizes and the FaceX-Zoo reference ------------------------------------------------------------

def test_resnest50_param_count_matches_reference() -> None:
    net = ResNeSt(ResNeSt50Config())
    count = count_parameters(net)
    assert count == expected_params(LAYERS[50], stem=64) == 76_793_248
    assert abs(count / 1e6 - REFERENCE_PARAMS_M[50]) / REFERENCE_PARAMS_M[50] < 0.005


def test_resnest101_param_count_matches_reference_with_stem_fixed() -> None:
    net = ResNeSt(ResNeSt101Config())
    count = count_parameters(net)
    assert count == expected_params(LAYERS[101], stem=128) == 97_502_880
    assert abs(count / 1e6 - REFERENCE_PARAMS_M[101]) / REFERENCE_PARAMS_M[101] < 0.005
    # the whole difference to FaceX-Zoo's (unrunnable) 97,500,960 is the input layer's 64 extra
    # channels: 3*64*9 conv weights + 2*64 BatchNorm + 64 PReLU = 1,920 parameters
    assert count - 97_500_960 == 3 * 64 * 9 + 2 * 64 + 64
    assert net.input_layer[0].out_channels == net.body.layer1[0].conv1.in_channels == 128


def test_resnest101_runs() -> None:
    """FaceX-Zoo's ResNeSt-101 fails at its first block; the full 101-layer body runs here (at a
    small input, to keep the test fast)."""
    net = ResNeSt(ResNeSt101Config(input_size=(32, 32), embedding_size=64)).eval()
    assert [len(getattr(net.body, f"layer{i}")) for i in range(1, 5)] == [3, 4, 23, 3]
    with torch.no_grad():
        out = net(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 64) and torch.isfinite(out).all()


def test_stem_width_follows_depth() -> None:
    assert ResNeSt50Config().stem_channels == 64 and ResNeSt101Config().stem_channels == 128
    assert ResNeStConfig(depth=101, stem_width=32).stem_channels == 64


def test_module_names_and_layout() -> None:
    net = ResNeSt(ResNeSt50Config())
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert shapes["input_layer.0.weight"] == (64, 3, 3, 3)
    assert shapes["body.layer1.0.conv2.conv.weight"] == (128, 32, 3, 3)     # radix 2 groups
    assert shapes["body.layer1.0.conv2.fc1.weight"] == (32, 64, 1, 1)
    assert shapes["body.layer4.0.conv2.fc2.weight"] == (1024, 256, 1, 1)    # hidden 512*2/4
    assert shapes["body.layer3.0.downsample.1.weight"] == (1024, 512, 1, 1)
    assert "body.layer3.1.downsample.1.weight" not in shapes
    assert [len(getattr(net.body, f"layer{i}")) for i in range(1, 5)] == [3, 4, 6, 3]
    assert isinstance(net.body.layer2[0].avd_layer, nn.AvgPool2d)
    assert net.body.layer2[0].conv2.conv.stride == (1, 1)   # the stride sits in the average pool


# -- split attention -----------------------------------------------------------------------------

def test_split_attention_matches_the_paper_formula() -> None:
    """Re-derive the output with explicit per-split loops: U_r splits, pooled s = GAP(sum_r U_r),
    a = r-softmax(fc2(relu(bn(fc1(s))))) over r, V = sum_r a_r * U_r."""
    torch.manual_seed(0)
    layer = SplitAttentionConv(16, radix=4).eval()
    x = torch.randn(2, 16, 5, 5)
    with torch.no_grad():
        u = layer.relu(layer.bn0(layer.conv(x)))
        splits = torch.split(u, 16, dim=1)
        s = sum(splits).mean(dim=(2, 3), keepdim=True)
        logits = layer.fc2(layer.relu(layer.bn1(layer.fc1(s))))
        logits = torch.stack(torch.split(logits, 16, dim=1))                  # R x N x C x 1 x 1
        weights = logits.exp() / logits.exp().sum(dim=0, keepdim=True)
        expected = sum(weights[r] * splits[r] for r in range(4))
        torch.testing.assert_close(layer(x), expected, rtol=1e-5, atol=1e-6)
        single = SplitAttentionConv(16, radix=1).eval()
        v = single.relu(single.bn0(single.conv(x)))
        gate = single.fc2(single.relu(single.bn1(single.fc1(v.mean(dim=(2, 3), keepdim=True))))).sigmoid()
        torch.testing.assert_close(single(x), v * gate, rtol=1e-5, atol=1e-6)


# -- contract, export, input sizes ---------------------------------------------------------------

def test_contract_when_built_by_name() -> None:
    for name in ("resnest50", "resnest101"):
        net = facex_core.build("backbone", name, **SMALL)
        assert isinstance(net, ResNeSt) and net.embedding_size == 64
        check_backbone(net, batch=2)


def test_export_and_channels_last() -> None:
    torch.manual_seed(0)
    net = ResNeSt(ResNeStConfig(**SMALL))
    check_backbone_export(net)   # calibrates BatchNorm first: uncalibrated, the eval output is ~1e-2
    with torch.no_grad():
        assert 0.1 < net(torch.randn(2, 3, 48, 48)).abs().mean().item() < 10


@pytest.mark.parametrize("config_cls", [ResNeSt50Config, ResNeSt101Config])
def test_map_size_follows_input_size(config_cls: type) -> None:
    check_map_size_config(config_cls)


def test_upper_half_face_input() -> None:
    cfg = ResNeStConfig(layers=(1, 1, 1, 1), embedding_size=64, input_size=(60, 112), out_h=4, out_w=7)
    net = ResNeSt(cfg).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, 60, 112))     # 15 -> 8 exercises the ceil-mode shortcut pool
    assert out.shape == (2, 64) and torch.isfinite(out).all()
    assert count_parameters(net) == expected_params((1, 1, 1, 1), stem=64, embedding=64, out_h=4, out_w=7)


def test_embedding_is_not_normalised() -> None:
    net = ResNeSt(ResNeStConfig(**SMALL)).train()
    out = net(torch.randn(4, 3, 48, 48))
    assert not torch.allclose(out.norm(dim=1), torch.ones(4))


def test_invalid_configs_and_inputs_rejected() -> None:
    for bad in (dict(depth=200), dict(radix=0), dict(radix=3), dict(stem_width=0), dict(layers=(1, 1, 1)),
                dict(embedding_size=0), dict(dropout=1.0)):
        with pytest.raises(ValueError):
            ResNeStConfig(**bad)
    with pytest.raises(ValueError, match="input_size"):
        ResNeSt(ResNeStConfig(**SMALL))(torch.randn(1, 3, 112, 112))


# -- registration --------------------------------------------------------------------------------

def test_plugin_module_does_not_import_torch() -> None:
    assert_light_module("facex_backbone_resnest.plugin")


def test_components_declared() -> None:
    comps = {c.name: c for c in plugin.facex_components()}
    assert list(comps) == ["resnest50", "resnest101"]
    assert comps["resnest50"].config is ResNeSt50Config and comps["resnest101"].config is ResNeSt101Config
    assert all(c.kind == "backbone" and c.factory == "facex_backbone_resnest.resnest:ResNeSt"
               for c in comps.values())


# -- feature taps (Backbone.stages, used by distillation) ---------------------------------------


def test_stages_are_stem_and_the_four_layers() -> None:
    # stem 64 (ResNeSt-50); layer k outputs 64·2^(k−1)·4 channels at 1/2^k
    torch.manual_seed(0)
    net = ResNeSt(ResNeStConfig(**{**SMALL, "input_size": (32, 32)}))
    check_backbone_stages(net, {"stem": (64, 32, 32), "stage1": (256, 16, 16), "stage2": (512, 8, 8),
                            "stage3": (1024, 4, 4), "stage4": (2048, 2, 2)})
