"""Tests of the MobileFaceNet / MBF backbones (CPU, batch 2, a few seconds in all)."""
from __future__ import annotations

import pytest
import torch

from facex_backbone_mobilefacenet.mobilefacenet import MobileFaceNet
from facex_backbone_mobilefacenet.plugin import MBFConfig, MobileFaceNetConfig
from facex_core.testing import (assert_light_module, calibrate_batchnorm, check_backbone_stages,
                                check_map_size_config, count_parameters, torch_threads)

#: FaceX-Zoo's measured parameter count of its MobileFaceNet (feat_dim 512, 112x112), in millions.
REFERENCE_PARAMS_M = 1.201


# -- an independent parameter count, from the layer list and per-layer formulas -----------------

def conv_bn_prelu(c_in: int, c_out: int, kh: int, kw: int, groups: int = 1) -> int:
    """Conv without bias (c_in/groups * c_out * kh * kw) + BN (weight, bias) + PReLU (one per channel)."""
    return c_in // groups * c_out * kh * kw + 2 * c_out + c_out


def conv_bn(c_in: int, c_out: int, kh: int, kw: int, groups: int = 1) -> int:
    """Conv without bias + BN (weight, bias)."""
    return c_in // groups * c_out * kh * kw + 2 * c_out


def bottleneck(c_in: int, c_out: int, expansion: int) -> int:
    """1x1 expand (conv-BN-PReLU) + 3x3 depthwise (conv-BN-PReLU) + 1x1 project (conv-BN)."""
    return (conv_bn_prelu(c_in, expansion, 1, 1) + conv_bn_prelu(expansion, expansion, 3, 3, expansion)
            + conv_bn(expansion, c_out, 1, 1))


def expected_params(embedding: int = 512, width: int = 1, blocks: tuple[int, ...] = (1, 4, 6, 2),
                    out_h: int = 7, out_w: int = 7) -> int:
    c1, c2 = 64 * width, 128 * width
    layers = [conv_bn_prelu(3, c1, 3, 3)]                                        # conv1
    if blocks[0] == 1:
        layers.append(conv_bn_prelu(c1, c1, 3, 3, groups=64))                    # conv2_dw
    else:
        layers.append(blocks[0] * bottleneck(c1, c1, 128))
    layers += [bottleneck(c1, c1, 128), blocks[1] * bottleneck(c1, c1, 128),    # conv_23, conv_3
               bottleneck(c1, c2, 256), blocks[2] * bottleneck(c2, c2, 256),    # conv_34, conv_4
               bottleneck(c2, c2, 512), blocks[3] * bottleneck(c2, c2, 256),    # conv_45, conv_5
               conv_bn_prelu(c2, 512, 1, 1),                                     # conv_6_sep
               conv_bn(512, 512, out_h, out_w, groups=512),                      # conv_6_dw (GDConv)
               512 * embedding,                                                  # linear, no bias
               2 * embedding]                                                    # BatchNorm1d
    return sum(layers)


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    """Batch-2 forwards of a 1M-parameter net gain nothing from intra-op threads."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def model() -> MobileFaceNet:
    # real BatchNorm statistics: with the initial mean 0 / var 1 the eval output is ~1e-6 and
    # tolerances of 1e-5 would test nothing
    torch.manual_seed(0)
    return calibrate_batchnorm(MobileFaceNet(MobileFaceNetConfig()))


def assert_eval_output_is_order_one(out: torch.Tensor) -> None:
    assert 0.1 < out.abs().mean().item() < 10


# -- shape, size and the FaceX-Zoo reference ---------------------------------------------------

def test_output_shape_and_finite(model: MobileFaceNet) -> None:
    model.train()
    out = model(torch.randn(2, 3, 112, 112))
    assert out.shape == (2, 512)
    assert torch.isfinite(out).all()
    assert model.input_size == (112, 112) and model.embedding_size == 512


def test_parameter_count_matches_reference_and_layout(model: MobileFaceNet) -> None:
    count = count_parameters(model)
    assert count == expected_params() == 1_200_512
    assert abs(count / 1e6 - REFERENCE_PARAMS_M) / REFERENCE_PARAMS_M < 0.005


def test_facex_zoo_state_dict_names(model: MobileFaceNet) -> None:
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["conv1.conv.weight"] == (64, 3, 3, 3)
    assert shapes["conv2_dw.prelu.weight"] == (64,)
    assert shapes["conv_3.model.3.conv_dw.conv.weight"] == (128, 1, 3, 3)
    assert shapes["conv_45.project.conv.weight"] == (128, 512, 1, 1)
    assert shapes["conv_6_dw.conv.weight"] == (512, 1, 7, 7)
    assert shapes["linear.weight"] == (512, 512)
    assert "bn.running_var" in shapes


@pytest.mark.parametrize("config_cls", [MobileFaceNetConfig, MBFConfig])
def test_map_size_follows_input_size(config_cls: type) -> None:
    check_map_size_config(config_cls)


def test_upper_half_face_input() -> None:
    cfg = MobileFaceNetConfig(input_size=(60, 112), embedding_size=256)
    net = MobileFaceNet(cfg).eval()
    assert net.conv_6_dw.conv.kernel_size == (4, 7)
    with torch.no_grad():
        out = net(torch.randn(2, 3, 60, 112))
    assert out.shape == (2, 256) and torch.isfinite(out).all()
    assert count_parameters(net) == expected_params(embedding=256, out_h=4, out_w=7)


def test_wrong_input_size_is_a_clear_error(model: MobileFaceNet) -> None:
    with pytest.raises(ValueError, match="input_size"):
        model(torch.randn(2, 3, 60, 112))


def test_invalid_configs_rejected() -> None:
    for bad in (dict(width=0), dict(embedding_size=0), dict(blocks=(0, 4, 6, 2)),
                dict(blocks=(1, 4, 6)), dict(input_size=(0, 112))):
        with pytest.raises(ValueError):
            MobileFaceNetConfig(**bad)


# -- behaviour ---------------------------------------------------------------------------------

def test_eval_is_deterministic(model: MobileFaceNet) -> None:
    model.eval()
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        a, b = model(x), model(x)
        single = model(x[:1])
    assert_eval_output_is_order_one(a)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(single, a[:1], rtol=1e-5, atol=1e-5)  # eval: no batch coupling


def test_channels_last_matches_contiguous(model: MobileFaceNet) -> None:
    model.eval()
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        ref = model(x)
        cl_model = MobileFaceNet(MobileFaceNetConfig())
        cl_model.load_state_dict(model.state_dict())
        cl_model = cl_model.eval().to(memory_format=torch.channels_last)
        out = cl_model(x.contiguous(memory_format=torch.channels_last))
    assert_eval_output_is_order_one(ref)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_gradients_reach_first_conv(model: MobileFaceNet) -> None:
    model.train()
    model.zero_grad(set_to_none=True)
    model(torch.randn(2, 3, 112, 112)).pow(2).sum().backward()
    grad = model.conv1.conv.weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.parameters())


def test_initialisation(model: MobileFaceNet) -> None:
    fresh = MobileFaceNet(MobileFaceNetConfig())
    assert torch.equal(fresh.conv_4.model[0].conv.bn.weight, torch.ones(256))
    assert torch.equal(fresh.bn.bias, torch.zeros(512))
    std = fresh.conv_6_sep.conv.weight.std().item()   # kaiming fan-out: sqrt(2 / 512)
    assert abs(std - (2 / 512) ** 0.5) / (2 / 512) ** 0.5 < 0.1


# -- the wider variant ---------------------------------------------------------------------------

def test_mbf_is_wider_and_works(model: MobileFaceNet) -> None:
    cfg = MBFConfig()
    assert cfg.width == 2 and isinstance(cfg, MobileFaceNetConfig)
    net = MobileFaceNet(cfg)
    assert count_parameters(net) == expected_params(width=2) > count_parameters(model)
    net.train()
    out = net(torch.randn(2, 3, 112, 112))
    assert out.shape == (2, 512) and torch.isfinite(out).all()
    assert net.conv2_dw.conv.groups == 64  # InsightFace keeps 64 groups at every width


def test_mbf_large_layout() -> None:
    cfg = MBFConfig(width=4, blocks=(2, 8, 12, 4))
    net = MobileFaceNet(cfg)
    assert count_parameters(net) == expected_params(width=4, blocks=(2, 8, 12, 4))


# -- export paths --------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.trace is deprecated in torch 2.14
def test_jit_trace(model: MobileFaceNet) -> None:
    model.eval()
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        traced = torch.jit.trace(model, x)
        torch.testing.assert_close(traced(x), model(x), rtol=1e-5, atol=1e-5)


def test_torch_export(model: MobileFaceNet) -> None:
    model.eval()
    x = torch.randn(2, 3, 112, 112)
    program = torch.export.export(model, (x,))
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x), rtol=1e-5, atol=1e-5)


def test_onnx_export(model: MobileFaceNet, tmp_path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    model.eval()
    x = torch.randn(2, 3, 112, 112)
    path = tmp_path / "mobilefacenet.onnx"
    torch.onnx.export(model, (x,), str(path), dynamo=True)
    import onnx

    onnx.checker.check_model(onnx.load(str(path)))
    try:
        import onnxruntime
    except ImportError:
        return
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(out), model(x), rtol=1e-4, atol=1e-4)


# -- registration ------------------------------------------------------------------------------

def test_plugin_module_does_not_import_torch() -> None:
    assert_light_module("facex_backbone_mobilefacenet.plugin")


@pytest.mark.parametrize("name", ["mobilefacenet", "mbf"])
def test_core_contract_when_built_by_name(name: str) -> None:
    import facex_core

    testing = pytest.importorskip("facex_core.testing")
    backbone = facex_core.build("backbone", name, embedding_size=128)
    assert isinstance(backbone, MobileFaceNet) and backbone.embedding_size == 128
    testing.check_backbone(backbone, batch=2)


def test_components_declared() -> None:
    from facex_backbone_mobilefacenet import plugin

    comps = {c.name: c for c in plugin.facex_components()}
    assert list(comps) == ["mobilefacenet", "mbf"]
    assert comps["mobilefacenet"].config is MobileFaceNetConfig
    assert comps["mbf"].config is MBFConfig
    for comp in comps.values():
        assert comp.kind == "backbone"
        assert comp.factory == "facex_backbone_mobilefacenet.mobilefacenet:MobileFaceNet"


# -- feature taps (Backbone.stages, used by distillation) ---------------------------------------


def test_stages_are_named_by_resolution() -> None:
    # 64×64: conv1 halves to 32; conv_23, conv_34, conv_45 halve again; 64·width then 128·width channels
    torch.manual_seed(0)
    net = MobileFaceNet(MobileFaceNetConfig(input_size=(64, 64), embedding_size=16, blocks=(2, 1, 1, 1)))
    check_backbone_stages(net, {"stem": (64, 32, 32), "stage1": (64, 32, 32), "stage2": (64, 16, 16),
                            "stage3": (128, 8, 8), "stage4": (128, 4, 4), "final": (512, 4, 4)})
    wide = MobileFaceNet(MBFConfig(input_size=(32, 32), embedding_size=16, blocks=(1, 0, 1, 0)))  # empty stages tap too
    check_backbone_stages(wide, {"stem": (128, 16, 16), "stage1": (128, 16, 16), "stage2": (128, 8, 8),
                             "stage3": (256, 4, 4), "stage4": (256, 2, 2), "final": (512, 2, 2)})
