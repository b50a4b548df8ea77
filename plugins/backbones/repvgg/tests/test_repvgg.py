"""Tests of the RepVGG backbones and their re-parameterisation (CPU, batch 2)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import facex_core
from facex_core.testing import (assert_light_module, calibrate_batchnorm, check_backbone, check_backbone_export,
                                check_backbone_stages, check_map_size_config, count_parameters, torch_threads)
from facex_backbone_repvgg import plugin
from facex_backbone_repvgg.plugin import PRESETS, RepVGGA0Config, RepVGGB0Config, RepVGGB1Config, RepVGGConfig
from facex_backbone_repvgg.repvgg import RepVGG, RepVGGBlock, reparameterized

#: FaceX-Zoo's measured parameter counts (feat_dim 512, 112x112, training form), in millions.
REFERENCE_PARAMS_M = {"a0": 39.945, "b0": 46.654, "b1": 106.752}
CONFIGS = {"a0": RepVGGA0Config, "b0": RepVGGB0Config, "b1": RepVGGB1Config}
#: A small network with every kind of block (stride 2, identity, several per stage), for speed.
SMALL = dict(blocks=(1, 2, 2, 1), width=(0.25, 0.25, 0.25, 0.25), embedding_size=32)


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    """Batch-2 forwards gain little from intra-op threads on a shared 2-core machine."""
    with torch_threads(1):
        yield


def with_random_affine(net: RepVGG, seed: int = 0) -> RepVGG:
    """Give every BatchNorm non-trivial affine parameters, as after training: with γ = 1, β = 0 a
    wrong fusion formula could still pass."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.2)
    return net


def trained_like(net: RepVGG, seed: int = 0) -> RepVGG:
    """Random affine parameters and real running statistics (μ = 0, σ² = 1 could also hide a wrong
    fusion), in eval mode; the statistics keep outputs O(1), so that 1e-5 tolerances mean something."""
    return calibrate_batchnorm(with_random_affine(net, seed), batches=1, seed=seed)


# -- an independent parameter count, from the layer list ----------------------------------------

def expected_params(blocks, width, embedding: int = 512, out_h: int = 7, out_w: int = 7,
                    deploy: bool = False) -> int:
    def block(c_in: int, c_out: int, stride: int) -> int:
        if deploy:
            return c_in * c_out * 9 + c_out
        identity = 2 * c_in if (c_in == c_out and stride == 1) else 0
        return c_in * c_out * 9 + 2 * c_out + c_in * c_out + 2 * c_out + identity

    widths = [int(b * w) for b, w in zip((64, 128, 256, 512), width)]
    c_prev = min(64, widths[0])
    total = block(3, c_prev, 1)
    for count, c in zip(blocks, widths):
        for i in range(count):
            total += block(c_prev, c, 2 if i == 0 else 1)
            c_prev = c
    return total + 2 * c_prev + c_prev * out_h * out_w * embedding + embedding + 2 * embedding


# -- sizes and the FaceX-Zoo reference ------------------------------------------------------------

@pytest.mark.parametrize("name", ["a0", "b0", "b1"])
def test_repvgg_param_count_matches_reference(name: str) -> None:
    cfg = CONFIGS[name]()
    assert (cfg.blocks, cfg.width) == PRESETS[name]
    count = count_parameters(RepVGG(cfg))
    assert count == expected_params(cfg.blocks, cfg.width)
    assert abs(count / 1e6 - REFERENCE_PARAMS_M[name]) / REFERENCE_PARAMS_M[name] < 0.005


@pytest.mark.parametrize("name, deploy_params", [("a0", 39_145_120), ("b0", 45_174_784),
                                                 ("b1", 101_166_336)])
def test_deploy_form_has_fewer_params(name: str, deploy_params: int) -> None:
    cfg = CONFIGS[name](deploy=True)
    count = count_parameters(RepVGG(cfg))
    assert count == deploy_params == expected_params(cfg.blocks, cfg.width, deploy=True)
    assert count < expected_params(cfg.blocks, cfg.width)


def test_facex_zoo_defaults_are_b1() -> None:
    assert (RepVGGConfig().blocks, RepVGGConfig().width) == PRESETS["b1"]


def test_block_layout_and_module_names() -> None:
    net = RepVGG(RepVGGA0Config())
    assert net.stage0.rbr_dense.conv.weight.shape == (48, 3, 3, 3)      # min(64, 64*0.75)
    assert net.stage0.rbr_identity is None                              # 3 -> 48 channels
    first, second = net.stage2[0], net.stage2[1]
    assert first.stride == 2 and first.rbr_identity is None
    assert second.stride == 1 and isinstance(second.rbr_identity, nn.BatchNorm2d)
    assert net.stage4[0].rbr_1x1.conv.weight.shape == (1280, 192, 1, 1)
    assert net.output_layer.linear.in_features == 1280 * 7 * 7
    keys = net.state_dict().keys()
    assert "stage3.13.rbr_identity.running_var" in keys and "stage1.1.rbr_1x1.bn.weight" in keys


# -- re-parameterisation --------------------------------------------------------------------------

def test_reparameterized_small_net_gives_same_embeddings() -> None:
    torch.manual_seed(0)
    net = trained_like(RepVGG(RepVGGConfig(**SMALL)))
    x = torch.randn(2, 3, 112, 112)
    fused = reparameterized(net).eval()
    with torch.no_grad():
        ref, out = net(x), fused(x)
    assert 0.1 < ref.abs().mean().item() < 10
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    assert fused.is_deployed and not net.is_deployed   # the copy is fused, the original is not
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.stage2.modules())


def test_reparameterized_a0_gives_same_embeddings() -> None:
    """The full A0 in float64: the fused net equals the training form to rounding (~1e-13), so the
    algebra is exact. (In float32 the two differ by ~1e-4 on a random-weight A0: the folded weights
    are rounded once more, and 22 layers with calibrated BatchNorm amplify that; the small net
    above checks float32 at 1e-5.)"""
    torch.manual_seed(0)
    net = trained_like(RepVGG(RepVGGA0Config(embedding_size=64))).double()
    x = torch.randn(2, 3, 112, 112, dtype=torch.float64)
    with torch.no_grad():
        ref = net(x)
        out = net.reparameterize()(x)          # in place this time
    assert net.stage1[0].rbr_reparam.weight.dtype == torch.float64
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    assert net.is_deployed and net.config.deploy
    assert count_parameters(net) == expected_params(PRESETS["a0"][0], PRESETS["a0"][1], embedding=64,
                                                    deploy=True)


def test_fused_checkpoint_loads_into_deploy_config() -> None:
    torch.manual_seed(0)
    fused = reparameterized(trained_like(RepVGG(RepVGGConfig(**SMALL))))
    assert fused.config == RepVGGConfig(**SMALL, deploy=True)
    built = RepVGG(fused.config)           # what a saved config rebuilds
    built.load_state_dict(fused.state_dict(), strict=True)
    built.eval()
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        torch.testing.assert_close(built(x), fused(x), rtol=0, atol=0)
    assert set(built.stage1[0].state_dict()) == {"rbr_reparam.weight", "rbr_reparam.bias"}


def test_reparameterize_is_idempotent_and_kernel_is_differentiable() -> None:
    net = RepVGG(RepVGGConfig(**SMALL))
    block: RepVGGBlock = net.stage2[1]
    kernel, bias = block.equivalent_kernel_bias()
    (kernel.square().sum() + bias.sum()).backward()
    assert block.rbr_dense.conv.weight.grad is not None and block.rbr_identity.weight.grad is not None
    net.eval().reparameterize()
    weight = net.stage2[1].rbr_reparam.weight.clone()
    net.reparameterize()
    assert torch.equal(net.stage2[1].rbr_reparam.weight, weight)


# -- contract, export, input sizes ---------------------------------------------------------------

def test_a0_contract_when_built_by_name() -> None:
    net = facex_core.build("backbone", "repvgg_a0", embedding_size=64)
    assert isinstance(net, RepVGG) and net.embedding_size == 64
    check_backbone(net, batch=2)


def test_a0_export_and_channels_last() -> None:
    torch.manual_seed(0)
    check_backbone_export(with_random_affine(RepVGG(RepVGGA0Config(embedding_size=64))))


def test_deploy_form_contract_and_export() -> None:
    torch.manual_seed(0)
    fused = reparameterized(trained_like(RepVGG(RepVGGConfig(**SMALL))))
    check_backbone_export(fused)
    check_backbone(fused, batch=2)        # the plain VGG form trains too


def test_map_size_follows_input_size() -> None:
    check_map_size_config(RepVGGConfig)


def test_upper_half_face_input() -> None:
    cfg = RepVGGConfig(**SMALL, input_size=(60, 112), out_h=4, out_w=7)
    net = trained_like(RepVGG(cfg))
    x = torch.randn(2, 3, 60, 112)
    with torch.no_grad():
        ref = net(x)
        out = reparameterized(net)(x)
    assert ref.shape == (2, 32)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    assert count_parameters(net) == expected_params(SMALL["blocks"], SMALL["width"], 32, 4, 7)


def test_invalid_configs_and_inputs_rejected() -> None:
    for bad in (dict(blocks=(0, 4, 14, 1)), dict(blocks=(2, 4, 14)), dict(width=(0.01, 1, 1, 1)),
                dict(embedding_size=0), dict(dropout=1.0)):
        with pytest.raises(ValueError):
            RepVGGConfig(**bad)
    with pytest.raises(ValueError, match="input_size"):
        RepVGG(RepVGGConfig(**SMALL))(torch.randn(1, 3, 60, 112))


# -- registration --------------------------------------------------------------------------------

def test_plugin_module_does_not_import_torch() -> None:
    assert_light_module("facex_backbone_repvgg.plugin")


def test_components_declared() -> None:
    comps = {c.name: c for c in plugin.facex_components()}
    assert list(comps) == ["repvgg_a0", "repvgg_b0", "repvgg_b1"]
    for name, comp in comps.items():
        assert comp.kind == "backbone" and comp.config is CONFIGS[name.removeprefix("repvgg_")]
        assert comp.factory == "facex_backbone_repvgg.repvgg:RepVGG"


# -- feature taps (Backbone.stages, used by distillation) ---------------------------------------


def test_stages_in_training_and_deploy_form() -> None:
    # width 0.25: stage channels min(64, 16), 16, 32, 64, 128
    torch.manual_seed(0)
    net = RepVGG(RepVGGConfig(**SMALL, input_size=(32, 32)))
    expected = {"stem": (16, 32, 32), "stage1": (16, 16, 16), "stage2": (32, 8, 8), "stage3": (64, 4, 4),
                "stage4": (128, 2, 2)}
    check_backbone_stages(net, expected)
    check_backbone_stages(reparameterized(net), expected)
