"""Tests of the ResNet IR / IR-SE backbones (CPU, batch 2; forward passes only on reduced configs)."""
from __future__ import annotations

import pytest
import torch

import facex_core
from facex_core.testing import (assert_light_module, check_backbone, check_backbone_export, check_backbone_stages,
                                check_map_size_config, count_parameters, torch_threads)
from facex_backbone_resnet import plugin
from facex_backbone_resnet.plugin import ResNetConfig
from facex_backbone_resnet.resnet import IRUnit, ResNet, convert_facexzoo_state_dict

#: FaceX-Zoo's measured parameter counts (facexzoo-reference.md §2 table), in millions.
REFERENCE_PARAMS_M = {
    "resnet50_ir": 43.575, "resnet50_irse": 43.798,
    "resnet100_ir": 65.13, "resnet100_irse": 65.502,
    "resnet152_ir": 70.738, "resnet152_irse": 71.149,
}
#: A small network for forward passes: one unit per stage, the first stage with a stride-1 unit too.
SMALL = dict(units=(2, 1, 1, 1), embedding_size=64)


# -- an independent parameter count and key list, from the layer description ---------------------

def bn(c: int) -> int:
    return 2 * c


def unit_params(c_in: int, c: int, se: bool) -> int:
    """BN(c_in), 3x3 conv c_in->c, PReLU(c), 3x3 conv c->c, BN(c) [, SE c->c/16->c bias-free]
    + a 1x1 conv + BN shortcut when the width changes."""
    total = bn(c_in) + 9 * c_in * c + c + 9 * c * c + bn(c)
    if se:
        total += 2 * c * (c // 16)
    if c_in != c:
        total += c_in * c + bn(c)
    return total


def expected_params(units: tuple[int, ...], se: bool, embedding: int = 512, out_h: int = 7,
                    out_w: int = 7) -> int:
    total = 9 * 3 * 64 + bn(64) + 64                                  # input layer
    c_in = 64
    for c, n in zip((64, 128, 256, 512), units):
        for _ in range(n):
            total += unit_params(c_in, c, se)
            c_in = c
    return total + bn(512) + 512 * out_h * out_w * embedding + embedding + bn(embedding)


def facexzoo_keys(units: tuple[int, ...], se: bool, embedding: int, out_h: int = 7,
                  out_w: int = 7) -> dict[str, tuple[int, ...]]:
    """Keys and shapes of FaceX-Zoo's ``Resnet.state_dict()`` (Sequential indices as in its source)."""
    keys: dict[str, tuple[int, ...]] = {}

    def add_bn(prefix: str, c: int) -> None:
        keys.update({f"{prefix}.weight": (c,), f"{prefix}.bias": (c,), f"{prefix}.running_mean": (c,),
                     f"{prefix}.running_var": (c,), f"{prefix}.num_batches_tracked": ()})

    keys["input_layer.0.weight"] = (64, 3, 3, 3)
    add_bn("input_layer.1", 64)
    keys["input_layer.2.weight"] = (64,)
    index, c_in = 0, 64
    for c, n in zip((64, 128, 256, 512), units):
        for _ in range(n):
            p = f"body.{index}"
            if c_in != c:
                keys[f"{p}.shortcut_layer.0.weight"] = (c, c_in, 1, 1)
                add_bn(f"{p}.shortcut_layer.1", c)
            add_bn(f"{p}.res_layer.0", c_in)
            keys[f"{p}.res_layer.1.weight"] = (c, c_in, 3, 3)
            keys[f"{p}.res_layer.2.weight"] = (c,)
            keys[f"{p}.res_layer.3.weight"] = (c, c, 3, 3)
            add_bn(f"{p}.res_layer.4", c)
            if se:
                keys[f"{p}.res_layer.5.fc1.weight"] = (c // 16, c, 1, 1)
                keys[f"{p}.res_layer.5.fc2.weight"] = (c, c // 16, 1, 1)
            index, c_in = index + 1, c
    add_bn("output_layer.0", 512)
    keys["output_layer.3.weight"] = (embedding, 512 * out_h * out_w)
    keys["output_layer.3.bias"] = (embedding,)
    add_bn("output_layer.4", embedding)
    return keys


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    """Batch-2 forwards gain little from intra-op threads, and a shared 2-core machine loses a lot."""
    with torch_threads(1):
        yield


# -- sizes against FaceX-Zoo (every variant is built, none is run) -------------------------------

@pytest.mark.parametrize("name", sorted(REFERENCE_PARAMS_M))
def test_param_count_matches_reference(name: str) -> None:
    net = facex_core.build("backbone", name)
    cfg = net.config
    assert f"resnet{cfg.depth}_{cfg.mode.replace('_', '')}" == name
    count = count_parameters(net)
    assert count == expected_params(cfg.stage_units, se=cfg.mode == "ir_se")
    reference = REFERENCE_PARAMS_M[name]
    assert abs(count / 1e6 - reference) / reference < 0.005
    assert net.output_layer.linear.in_features == 512 * 7 * 7   # 12.85M-param linear layer


def test_depths_give_facexzoo_unit_counts() -> None:
    assert ResNetConfig(depth=50).stage_units == (3, 4, 14, 3)
    assert ResNetConfig(depth=100).stage_units == (3, 13, 30, 3)
    assert ResNetConfig(depth=152).stage_units == (3, 8, 36, 3)
    assert ResNetConfig(depth=152, units=(1, 1, 1, 1)).stage_units == (1, 1, 1, 1)


# -- structure -----------------------------------------------------------------------------------

def test_unit_layout_and_resolutions() -> None:
    net = ResNet(ResNetConfig(mode="ir_se", **SMALL))
    first, second = net.body[0], net.body[2]
    assert isinstance(first, IRUnit)
    # stage 1 keeps 64 channels: parameter-free subsampling shortcut; stage 2 widens: 1x1 conv + BN
    assert isinstance(first.shortcut_layer, torch.nn.MaxPool2d)
    assert count_parameters(first.shortcut_layer) == 0
    assert isinstance(net.body[1].shortcut_layer, torch.nn.Identity)
    assert second.shortcut_layer[0].stride == (2, 2) and second.shortcut_layer[0].kernel_size == (1, 1)
    assert [type(m).__name__ for m in first.res_layer] == [
        "BatchNorm2d", "Conv2d", "PReLU", "Conv2d", "BatchNorm2d", "SqueezeExcite"]
    assert first.res_layer[1].stride == (1, 1) and first.res_layer[3].stride == (2, 2)
    se = first.res_layer[5]
    assert se.reduce.out_channels == 64 // 16 and se.reduce.bias is None and se.expand.bias is None
    sizes = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: sizes.append(tuple(out.shape[1:])))
             for m in (net.input_layer, *net.body)]
    net.eval()
    with torch.no_grad():
        net(torch.randn(1, 3, 112, 112))
    for h in hooks:
        h.remove()
    assert sizes == [(64, 112, 112), (64, 56, 56), (64, 56, 56), (128, 28, 28), (256, 14, 14),
                     (512, 7, 7)]


def test_output_layer_is_bn_dropout_flatten_linear_bn() -> None:
    net = ResNet(ResNetConfig(**SMALL))
    out = net.output_layer
    assert isinstance(out, facex_core.FlattenEmbedding)
    assert isinstance(out.bn, torch.nn.BatchNorm2d) and out.bn.num_features == 512
    assert isinstance(out.dropout, torch.nn.Dropout) and out.dropout.p == 0.4   # FaceX-Zoo drop_ratio
    assert out.linear.bias is not None and out.linear.out_features == 64
    assert isinstance(out.bn_out, torch.nn.BatchNorm1d) and out.bn_out.affine


def test_dropout_is_active_in_training_only() -> None:
    torch.manual_seed(0)
    net = ResNet(ResNetConfig(**SMALL)).train()
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        a, b = net(x), net(x)
        assert not torch.allclose(a, b)
        net.eval()
        torch.testing.assert_close(net(x), net(x), rtol=0, atol=0)
    assert ResNet(ResNetConfig(dropout=0.0, **SMALL)).output_layer.dropout.__class__ is torch.nn.Identity


# -- the backbone contract, export and the upper-half-face input ---------------------------------

@pytest.mark.parametrize("mode", ["ir", "ir_se"])
def test_reduced_network_meets_backbone_contract(mode: str) -> None:
    torch.manual_seed(0)
    net = facex_core.build("backbone", f"resnet50_{mode.replace('_', '')}", units=[1, 1, 1, 1],
                           embedding_size=64)
    assert isinstance(net, ResNet) and net.embedding_size == 64
    check_backbone(net, batch=2)


def test_smallest_variant_meets_backbone_contract() -> None:
    # the whole resnet50_ir (all 24 units), at the 60x112 upper-half-face size to halve the cost
    torch.manual_seed(0)
    net = facex_core.build("backbone", "resnet50_ir", input_size=[60, 112])
    assert len(net.body) == 24 and net.output_layer.linear.in_features == 512 * 4 * 7
    check_backbone(net, batch=2)


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_reduced_ir_se_network_exports() -> None:
    torch.manual_seed(0)
    net = ResNet(ResNetConfig(mode="ir_se", units=(1, 1, 1, 1), embedding_size=64))
    # calibrates BatchNorm first: uncalibrated, embeddings are ~0.04 and an absolute tolerance of
    # 1e-4 would hide relative errors of 0.3%
    check_backbone_export(net)
    with torch.no_grad():
        assert 0.1 < net(torch.randn(2, 3, 112, 112)).abs().mean().item() < 10


def test_map_size_follows_input_size() -> None:
    check_map_size_config(ResNetConfig)


def test_upper_half_face_input() -> None:
    cfg = ResNetConfig(input_size=(60, 112), mode="ir_se", **SMALL)
    net = ResNet(cfg).eval()
    assert net.output_layer.linear.in_features == 512 * 4 * 7
    with torch.no_grad():
        out = net(torch.randn(2, 3, 60, 112))
    assert out.shape == (2, 64) and torch.isfinite(out).all()
    assert count_parameters(net) == expected_params((2, 1, 1, 1), se=True, embedding=64, out_h=4, out_w=7)
    with pytest.raises(ValueError, match="out_w=8"):   # check_map_size_config covers out_h
        ResNetConfig(input_size=(60, 112), out_h=4, out_w=8)


def test_wrong_input_size_is_a_clear_error() -> None:
    net = ResNet(ResNetConfig(**SMALL))
    with pytest.raises(ValueError, match="input_size"):
        net(torch.randn(2, 3, 60, 112))


def test_invalid_configs_rejected() -> None:
    for bad in (dict(depth=34), dict(mode="se"), dict(embedding_size=0), dict(dropout=1.0),
                dict(units=(1, 1, 1)), dict(units=(0, 1, 1, 1)), dict(input_size=(0, 112))):
        with pytest.raises(ValueError):
            ResNetConfig(**bad)


# -- FaceX-Zoo checkpoints -------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["ir", "ir_se"])
def test_facexzoo_checkpoint_loads_after_renaming(mode: str) -> None:
    se = mode == "ir_se"
    shapes = facexzoo_keys((2, 1, 1, 1), se=se, embedding=64)
    torch.manual_seed(0)
    theirs = {k: torch.randint(0, 5, s) if k.endswith("num_batches_tracked") else torch.randn(s)
              for k, s in shapes.items()}
    net = ResNet(ResNetConfig(mode=mode, **SMALL))
    # a whole FaceX-Zoo training checkpoint: backbone and head under prefixes
    checkpoint = {**{f"backbone.{k}": v for k, v in theirs.items()}, "head.weight": torch.randn(64, 10)}
    net.load_state_dict(convert_facexzoo_state_dict(checkpoint), strict=True)
    assert torch.equal(net.output_layer.linear.weight, theirs["output_layer.3.weight"])
    assert torch.equal(net.output_layer.bn_out.running_var, theirs["output_layer.4.running_var"])
    assert torch.equal(net.body[3].res_layer[1].weight, theirs["body.3.res_layer.1.weight"])
    if se:
        assert torch.equal(net.body[1].res_layer[5].expand.weight, theirs["body.1.res_layer.5.fc2.weight"])
    # the bare backbone state dict converts the same way
    net.load_state_dict(convert_facexzoo_state_dict(theirs), strict=True)
    assert len(net.state_dict()) == len(shapes)


# -- registration ----------------------------------------------------------------------------------

def test_discovery_does_not_import_torch() -> None:
    assert_light_module("facex_backbone_resnet.plugin")
    assert [c.name for c in plugin.facex_components()] == [
        "resnet50_ir", "resnet50_irse", "resnet100_ir", "resnet100_irse", "resnet152_ir", "resnet152_irse"]


def test_components_declared() -> None:
    comps = {c.name: c for c in plugin.facex_components()}
    assert set(comps) == set(REFERENCE_PARAMS_M)
    for name, comp in comps.items():
        assert comp.kind == "backbone" and comp.factory == "facex_backbone_resnet.resnet:ResNet"
        assert issubclass(comp.config, ResNetConfig) and comp.config is not ResNetConfig
        assert f"{REFERENCE_PARAMS_M[name]:.2f}M" in comp.summary
    assert comps["resnet152_irse"].config().depth == 152
    assert comps["resnet152_irse"].config().mode == "ir_se"
    assert comps["resnet100_ir"].config().mode == "ir"


# -- feature taps (Backbone.stages, used by distillation) ---------------------------------------


def test_stages_are_the_last_unit_of_each_width() -> None:
    torch.manual_seed(0)
    net = facex_core.build("backbone", "resnet50_ir", **SMALL, input_size=(32, 32))
    check_backbone_stages(net, {"stem": (64, 32, 32), "stage1": (64, 16, 16), "stage2": (128, 8, 8),
                            "stage3": (256, 4, 4), "stage4": (512, 2, 2)})
    assert net.stages()["stage1"] is net.body[1]  # units (2, 1, 1, 1): stage 1 ends with unit 2
