"""Tests of the EfficientNet backbones (CPU, batch 2; big variants are sized on the meta device and
run forward only in reduced form)."""
from __future__ import annotations

import math

import pytest
import torch

import facex_core
from facex_backbone_efficientnet.efficientnet import EfficientNet, MBConv, same_padding
from facex_backbone_efficientnet.plugin import (COEFFICIENTS, CONFIGS, STAGES, EfficientNetB7Config,
                                                EfficientNetConfig)
from facex_core.testing import (assert_light_module, calibrate_batchnorm, check_backbone, check_backbone_export,
                                check_backbone_stages, check_map_size_config, count_parameters, torch_threads)

VARIANTS = list(COEFFICIENTS)

#: FaceX-Zoo's measured parameter counts (M): every nn.Parameter of its EfficientNet module, which
#: includes the unused ImageNet classifier ``_fc`` = Linear(head channels, 1000).
REFERENCE_PARAMS_M = {"b0": 37.405, "b1": 39.911}
#: FaceX-Zoo's B2 count (M); that network cannot run (its output layer is sized for 1280 channels).
REFERENCE_B2_BROKEN_M = 41.227

#: Exact parameter counts of this plugin at the defaults (112×112, D = 512), as in the README.
EXACT_PARAMS = {
    "b0": 36_124_284, "b1": 38_629_920, "b2": 43_029_250, "b3": 49_236_008,
    "b4": 62_511_432, "b5": 79_726_640, "b6": 98_544_600, "b7": 128_018_896,
}


def dead_classifier(head_channels: int) -> int:
    """Parameters of FaceX-Zoo's unused ``_fc`` Linear(head_channels, 1000)."""
    return head_channels * 1000 + 1000


def expected_params(width: float, depth: float, embedding: int = 512, out_h: int = 7, out_w: int = 7) -> int:
    """An independent count, layer by layer from the paper's table (BN = 2 parameters per channel)."""
    def ch(c: int) -> int:
        return facex_core.make_divisible(c * width)

    stem = ch(32)
    total = 3 * stem * 9 + 2 * stem
    c_in = stem
    for repeats, kernel, _, expansion, out in STAGES:
        for _ in range(math.ceil(repeats * depth)):
            mid = c_in * expansion
            squeezed = max(1, int(c_in * 0.25))
            total += (c_in * mid + 2 * mid) if expansion != 1 else 0           # 1x1 expand
            total += mid * kernel * kernel + 2 * mid                            # depthwise
            total += (mid * squeezed + squeezed) + (squeezed * mid + mid)       # SE convs, with bias
            total += mid * ch(out) + 2 * ch(out)                                # 1x1 project
            c_in = ch(out)
    head = ch(1280)
    total += c_in * head + 2 * head                                             # head conv
    total += 2 * head + head * out_h * out_w * embedding + embedding + 2 * embedding  # output layer
    return total


def on_meta(config: EfficientNetConfig) -> EfficientNet:
    """Build without allocating or initialising weights: enough to count parameters of B7."""
    with torch.device("meta"):
        return EfficientNet(config)


def reduced(variant: str, **changes) -> EfficientNetConfig:
    """``variant``'s widths with one block per stage, a 32×32 input and D = 64: cheap to run."""
    values = dict(depth=0.25, input_size=(32, 32), embedding_size=64)
    values.update(changes)
    return CONFIGS[variant](**values)


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    """Small batches gain nothing from intra-op threads on a shared 2-core machine."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def b0() -> EfficientNet:
    # real BatchNorm statistics, so that eval outputs are O(1) and tolerances of 1e-5 test something
    torch.manual_seed(0)
    return calibrate_batchnorm(EfficientNet(EfficientNetConfig(embedding_size=64)))


# -- sizes against FaceX-Zoo and an independent count ------------------------------------------

@pytest.mark.parametrize("variant", ["b0", "b1"])
def test_param_count_matches_reference_minus_dead_classifier(variant: str) -> None:
    count = count_parameters(on_meta(CONFIGS[variant]()))
    expected = REFERENCE_PARAMS_M[variant] * 1e6 - dead_classifier(1280)
    assert abs(count - expected) / expected < 0.005
    assert count == EXACT_PARAMS[variant]


def test_b2_param_count_matches_reference_with_its_bugs_fixed() -> None:
    # FaceX-Zoo's B2 has the 1408-channel dead classifier and an output layer (BN2d + Linear) for
    # 1280 channels; with both fixed it is 1.409M smaller and 128*(2 + 49*512) larger
    count = count_parameters(on_meta(CONFIGS["b2"]()))
    expected = (REFERENCE_B2_BROKEN_M * 1e6 - dead_classifier(1408) + (1408 - 1280) * (2 + 49 * 512))
    assert abs(count - expected) / expected < 0.005


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_param_count_matches_layer_formula(variant: str) -> None:
    width, depth = COEFFICIENTS[variant]
    net = on_meta(CONFIGS[variant]())
    assert count_parameters(net) == expected_params(width, depth) == EXACT_PARAMS[variant]
    assert net.output_layer.linear.in_features == facex_core.make_divisible(1280 * width) * 49


def test_depth_coefficient_sets_block_counts() -> None:
    # the paper's B0 has 16 MBConv blocks; B7 (depth 3.1) has 55
    assert len(on_meta(CONFIGS["b0"]()).blocks) == 16
    assert len(on_meta(CONFIGS["b7"]()).blocks) == sum(math.ceil(r * 3.1) for r, *_ in STAGES) == 55


def test_variant_configs_differ_only_in_coefficients() -> None:
    for variant, cls in CONFIGS.items():
        cfg = cls()
        assert isinstance(cfg, EfficientNetConfig)
        assert (cfg.width, cfg.depth) == COEFFICIENTS[variant]
        assert (cfg.embedding_size, cfg.drop_ratio, cfg.drop_connect) == (512, 0.2, 0.2)
    assert EfficientNetB7Config(width=1.0).width == 1.0  # coefficients stay overridable


# -- layout details ------------------------------------------------------------------------------

def test_same_padding_is_tensorflow_style() -> None:
    assert same_padding(112, 3, 1) == (1, 1)
    assert same_padding(112, 3, 2) == (0, 1)    # the odd pixel goes after
    assert same_padding(28, 5, 2) == (1, 2)
    assert same_padding(15, 3, 2) == (1, 1)     # odd size (60-high input): symmetric
    assert same_padding(1, 5, 1) == (2, 2)


def test_resolution_halves_four_times(b0: EfficientNet) -> None:
    x = torch.randn(1, 3, 112, 112)
    with torch.no_grad():
        x = b0.stem(x)
        sizes = [tuple(x.shape[-2:])]
        for block in b0.blocks:
            x = block(x)
            sizes.append(tuple(x.shape[-2:]))
    assert sizes[0] == (112, 112) and sizes[-1] == (7, 7)
    assert sorted(set(sizes), reverse=True) == [(112, 112), (56, 56), (28, 28), (14, 14), (7, 7)]


def test_stochastic_depth_grows_with_block_index(b0: EfficientNet) -> None:
    rates = [(i, block.drop_path.p) for i, block in enumerate(b0.blocks) if block.residual]
    assert rates and all(abs(p - 0.2 * i / 16) < 1e-12 for i, p in rates)
    assert not b0.blocks[0].residual and not b0.blocks[1].residual  # 32 -> 16, stride 2


def test_tensorflow_batchnorm_settings_and_se_width() -> None:
    net = on_meta(EfficientNetConfig())
    bn = net.blocks[3].depthwise.bn
    assert (bn.momentum, bn.eps) == (0.01, 1e-3)  # TensorFlow's decay 0.99
    # squeeze-excitation is sized from the block input (24 channels), not the expanded 144
    assert isinstance(net.blocks[3], MBConv) and net.blocks[3].se.reduce.out_channels == 6


@pytest.mark.parametrize("config_cls", list(CONFIGS.values()))
def test_map_size_follows_input_size(config_cls: type) -> None:
    check_map_size_config(config_cls)


def test_upper_half_face_input() -> None:
    cfg = EfficientNetConfig(input_size=(60, 112), embedding_size=64)
    net = EfficientNet(cfg).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, 60, 112))
    assert out.shape == (2, 64) and torch.isfinite(out).all()
    assert count_parameters(net) == expected_params(1.0, 1.0, embedding=64, out_h=4)


def test_wrong_input_size_is_a_clear_error(b0: EfficientNet) -> None:
    with pytest.raises(ValueError, match="input_size"):
        b0(torch.randn(2, 3, 60, 112))


def test_invalid_configs_rejected() -> None:
    for bad in (dict(width=0.0), dict(depth=-1.0), dict(embedding_size=0), dict(drop_ratio=1.0),
                dict(drop_connect=-0.1), dict(input_size=(0, 112))):
        with pytest.raises(ValueError):
            EfficientNetConfig(**bad)


# -- behaviour and the core contract -----------------------------------------------------------

def test_b0_contract_and_eval_determinism(b0: EfficientNet) -> None:
    check_backbone(b0, batch=2)
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        b0.eval()
        full, single = b0(x), b0(x[:1])
    assert 0.1 < full.abs().mean().item() < 10
    torch.testing.assert_close(single, full[:1], rtol=1e-5, atol=1e-5)


def test_b0_export_and_channels_last(b0: EfficientNet) -> None:
    check_backbone_export(b0)


@pytest.mark.parametrize("variant", VARIANTS[1:])
def test_wider_and_deeper_variants_run_reduced(variant: str) -> None:
    # FaceX-Zoo fails here for every width > 1.0 ("running_mean should contain 1408 elements")
    torch.manual_seed(0)
    net = EfficientNet(reduced(variant))
    assert len(net.blocks) == len(STAGES)
    check_backbone(net, batch=2)


def test_widest_variant_exports_reduced() -> None:
    torch.manual_seed(0)
    check_backbone_export(EfficientNet(reduced("b7", input_size=(60, 112))))


# -- registration ------------------------------------------------------------------------------

def test_plugin_module_does_not_import_torch() -> None:
    assert_light_module("facex_backbone_efficientnet.plugin")


def test_components_declared() -> None:
    from facex_backbone_efficientnet import plugin

    comps = {c.name: c for c in plugin.facex_components()}
    assert list(comps) == [f"efficientnet_{v}" for v in VARIANTS]
    for variant in VARIANTS:
        comp = comps[f"efficientnet_{variant}"]
        assert comp.kind == "backbone" and comp.config is CONFIGS[variant]
        assert comp.factory == "facex_backbone_efficientnet.efficientnet:EfficientNet"
        assert f"{EXACT_PARAMS[variant] / 1e6:.2f}M" in comp.summary


def test_built_by_name_with_overrides() -> None:
    net = facex_core.build("backbone", "efficientnet_b3", depth=0.3, input_size=[32, 32], embedding_size=32)
    assert isinstance(net, EfficientNet) and net.embedding_size == 32
    assert (net.config.width, net.config.depth) == (1.2, 0.3)
    assert net.head.conv.out_channels == 1536  # make_divisible(1280 * 1.2)


# -- feature taps (Backbone.stages, used by distillation) ---------------------------------------


def test_stages_end_each_resolution() -> None:
    # B0 widths at 32×32: stem 32 ch; the last blocks at 16, 8, 4, 2 px have 24, 40, 112, 320 ch; head 1280
    torch.manual_seed(0)
    net = EfficientNet(reduced("b0"))
    check_backbone_stages(net, {"stem": (32, 32, 32), "stage1": (24, 16, 16), "stage2": (40, 8, 8),
                            "stage3": (112, 4, 4), "stage4": (320, 2, 2), "final": (1280, 2, 2)})


# -- FaceX-Zoo's padding (facexzoo_image_size) ----------------------------------------------------

def _pads(net: EfficientNet) -> dict[str, tuple]:
    """``((top, bottom), (left, right))`` of every convolution, by module name."""
    return {name: m.pads for name, m in net.named_modules() if hasattr(m, "pads")}


def test_facexzoo_padding_is_off_by_default() -> None:
    assert EfficientNetConfig().facexzoo_image_size == 0
    net = on_meta(EfficientNetConfig())
    # TensorFlow's padding of the real input of every convolution (112 -> 56 -> 28 -> 14 -> 7)
    assert net.blocks[1].depthwise.pads == ((0, 1), (0, 1))      # 3x3 s2 on 112
    assert net.blocks[3].depthwise.pads == ((1, 2), (1, 2))      # 5x5 s2 on 56
    assert net.blocks[5].depthwise.pads == ((0, 1), (0, 1))      # 3x3 s2 on 28
    assert net.blocks[11].depthwise.pads == ((1, 2), (1, 2))     # 5x5 s2 on 14
    assert net.blocks[11].depthwise.pad.padding == (1, 2, 1, 2)  # asymmetric: an explicit ZeroPad2d


def test_facexzoo_padding_at_112_changes_only_block_11() -> None:
    # FaceX-Zoo pads for 112 at the stem, then for 56, 28, 14, 7 where the real maps are 112, 56, 28, 14:
    # same parity (same padding) except 7 vs 14 at the 5x5 stride-2 depthwise conv of block 11
    tf, zoo = on_meta(EfficientNetConfig()), on_meta(EfficientNetConfig(facexzoo_image_size=112))
    tf_pads, zoo_pads = _pads(tf), _pads(zoo)
    assert tf_pads.keys() == zoo_pads.keys()
    changed = {name for name in tf_pads if tf_pads[name] != zoo_pads[name]}
    assert changed == {"blocks.11.depthwise"}
    assert zoo.blocks[11].depthwise.pads == ((2, 2), (2, 2))
    # symmetric again, so the convolution pads it itself; output sizes and weights do not change
    assert isinstance(zoo.blocks[11].depthwise.pad, torch.nn.Identity)
    assert zoo.blocks[11].depthwise.conv.padding == (2, 2)
    assert [b.out_size for b in zoo.blocks] == [b.out_size for b in tf.blocks]
    assert {k: v.shape for k, v in zoo.state_dict().items()} == {k: v.shape for k, v in tf.state_dict().items()}


def test_facexzoo_padding_upper_half_face() -> None:
    # 60 rows: FaceX-Zoo still pads the height for 112/2 = 56, 28, 14, 7; the 3x3 s2 conv of block 5
    # sees 15 real rows padded for 14 -> (0, 1) (TensorFlow: (1, 1)) and outputs 7 rows, not 8; the
    # 5x5 s2 conv of block 11 then pads its 7 rows for 7 -> (2, 2) (TensorFlow, on its 8 rows: (1, 2));
    # the width is the 112 case
    tf = on_meta(EfficientNetConfig(input_size=(60, 112)))
    zoo = on_meta(EfficientNetConfig(input_size=(60, 112), facexzoo_image_size=112))
    assert (tf.blocks[5].depthwise.pads, tf.blocks[5].out_size) == (((1, 1), (0, 1)), (8, 14))
    assert (zoo.blocks[5].depthwise.pads, zoo.blocks[5].out_size) == (((0, 1), (0, 1)), (7, 14))
    assert tf.blocks[11].depthwise.pads == ((1, 2), (1, 2))
    assert zoo.blocks[11].depthwise.pads == ((2, 2), (2, 2))
    changed = {name for name, p in _pads(tf).items() if _pads(zoo)[name] != p}
    assert changed == {"blocks.5.depthwise", "blocks.11.depthwise"}
    assert zoo.blocks[-1].out_size == zoo.config.map_size == (4, 7)


def test_facexzoo_padding_for_224_is_tensorflows_at_112() -> None:
    # halves of 224 are the real sizes: FaceX-Zoo's padding is TensorFlow's everywhere
    assert _pads(on_meta(EfficientNetConfig(facexzoo_image_size=224))) == _pads(on_meta(EfficientNetConfig()))


def test_facexzoo_padding_sets_the_last_map() -> None:
    # 60 rows padded for 224: 60 -> 30 -> 15 -> 7 -> 3 (FaceX-Zoo's arithmetic), not 4
    cfg = EfficientNetConfig(input_size=(60, 112), facexzoo_image_size=224, embedding_size=16)
    assert cfg.map_size == (3, 7)
    EfficientNetConfig(input_size=(60, 112), facexzoo_image_size=224, out_h=3)
    with pytest.raises(ValueError, match="out_h=4 .* facexzoo_image_size=224, whose last feature map is 3x7"):
        EfficientNetConfig(input_size=(60, 112), facexzoo_image_size=224, out_h=4)
    with pytest.raises(ValueError, match="facexzoo_image_size"):
        EfficientNetConfig(facexzoo_image_size=-1)
    net = on_meta(cfg)
    assert net.output_layer.linear.in_features == 1280 * 3 * 7


def test_facexzoo_padding_contract_and_export() -> None:
    # 60x112 padded for 112: asymmetric and changed paddings, a changed map size
    torch.manual_seed(0)
    net = EfficientNet(reduced("b0", input_size=(60, 112), facexzoo_image_size=112))
    assert net.blocks[3].depthwise.pads == ((0, 1), (0, 1))  # the 3x3 s2 stage on 15 rows, padded for 14
    check_backbone(net, batch=2)
    check_backbone_export(net)                     # torch.export, channels_last, TorchScript ONNX
    check_backbone_export(net, exporter="dynamo")  # and the dynamo ONNX exporter
