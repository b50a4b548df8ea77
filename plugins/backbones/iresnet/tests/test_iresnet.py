"""Tests of the IResNet backbones (CPU, batch 2; forward passes on iresnet18 and reduced configs only).

The state-dict layout expected here is written out by hand from InsightFace's architecture
(``recognition/arcface_torch/backbones/iresnet.py``), not read off the model under test.
"""
from __future__ import annotations

import math

import pytest
import torch

import facex_core
from facex_core.testing import (assert_light_module, calibrate_batchnorm, check_backbone, check_backbone_export,
                                check_backbone_stages, count_parameters, torch_threads)
from facex_backbone_iresnet import plugin
from facex_backbone_iresnet.iresnet import IResNet, convert_insightface_input
from facex_backbone_iresnet.plugin import IResNet50Config, IResNetConfig

#: InsightFace's block counts per stage, for each registered variant.
VARIANT_LAYERS = {"iresnet18": (2, 2, 2, 2), "iresnet34": (3, 4, 6, 3), "iresnet50": (3, 4, 14, 3),
                  "iresnet100": (3, 13, 30, 3), "iresnet200": (6, 26, 60, 6)}
#: Published sizes of the released arcface_torch r50 / r100 backbones, in millions of parameters.
PUBLISHED_PARAMS_M = {"iresnet50": 43.6, "iresnet100": 65.2}
#: A small network for forward passes and export.
SMALL = dict(layers=(1, 1, 1, 1), embedding_size=64)


# -- InsightFace's state dict, derived from the architecture description ------------------------

def expected_state_shapes(layers: tuple[int, ...], embedding: int = 512, out_h: int = 7,
                          out_w: int = 7) -> dict[str, tuple[int, ...]]:
    """Keys (in registration order) and shapes of InsightFace's ``IResNet.state_dict()``.

    Stem ``conv1`` (3x3, 3->64, no bias), ``bn1``, ``prelu``; ``layer1..4`` of IBasicBlocks with
    ``bn1`` (input width), ``conv1`` 3x3, ``bn2``, ``prelu``, ``conv2`` 3x3, ``bn3`` and, in each
    stage's first block, ``downsample`` = Sequential(1x1 conv, BN); then ``bn2`` (512), ``fc``
    (Linear 512*7*7 -> D, with bias) and ``features`` (BatchNorm1d(D)). Every BN has affine weight
    and bias, running mean/var and an int64 scalar ``num_batches_tracked``.
    """
    shapes: dict[str, tuple[int, ...]] = {}

    def batchnorm(prefix: str, c: int) -> None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{name}"] = (c,)
        shapes[f"{prefix}.num_batches_tracked"] = ()

    shapes["conv1.weight"] = (64, 3, 3, 3)
    batchnorm("bn1", 64)
    shapes["prelu.weight"] = (64,)
    c_in = 64
    for stage, (c, blocks) in enumerate(zip((64, 128, 256, 512), layers), start=1):
        for b in range(blocks):
            p = f"layer{stage}.{b}"
            batchnorm(f"{p}.bn1", c_in)
            shapes[f"{p}.conv1.weight"] = (c, c_in, 3, 3)
            batchnorm(f"{p}.bn2", c)
            shapes[f"{p}.prelu.weight"] = (c,)
            shapes[f"{p}.conv2.weight"] = (c, c, 3, 3)
            batchnorm(f"{p}.bn3", c)
            if b == 0:
                shapes[f"{p}.downsample.0.weight"] = (c, c_in, 1, 1)
                batchnorm(f"{p}.downsample.1", c)
            c_in = c
    batchnorm("bn2", 512)
    shapes["fc.weight"] = (embedding, 512 * out_h * out_w)
    shapes["fc.bias"] = (embedding,)
    batchnorm("features", embedding)
    return shapes


def expected_params(shapes: dict[str, tuple[int, ...]]) -> int:
    """Parameters = every state entry except BatchNorm running statistics and counters."""
    return sum(math.prod(s) for k, s in shapes.items()
               if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))


def random_state(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    """A stand-in for a released ``backbone.pth``: random values of the right shape and dtype."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in shapes.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(1000, dtype=torch.int64)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=g) + 0.5
        else:
            state[key] = torch.randn(shape, generator=g)
    return state


@pytest.fixture(scope="module", autouse=True)
def one_intra_op_thread():
    """Small-batch CPU convolutions are fastest single-threaded when other jobs share the cores."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def r50() -> IResNet:
    return IResNet(IResNet50Config())


# -- checkpoint compatibility --------------------------------------------------------------------

def test_iresnet50_state_dict_matches_insightface_exactly(r50: IResNet) -> None:
    expected = expected_state_shapes(VARIANT_LAYERS["iresnet50"])
    actual = {k: tuple(v.shape) for k, v in r50.state_dict().items()}
    assert list(actual) == list(expected)           # same keys, in InsightFace's order
    assert actual == expected                       # and the same shapes
    assert len(actual) == 475
    assert actual["layer1.0.downsample.0.weight"] == (64, 64, 1, 1)
    assert actual["layer3.13.conv2.weight"] == (256, 256, 3, 3)
    assert actual["fc.weight"] == (512, 25088)
    assert r50.state_dict()["features.num_batches_tracked"].dtype == torch.int64


def test_insightface_checkpoint_round_trip(r50: IResNet, tmp_path) -> None:
    shapes = expected_state_shapes(VARIANT_LAYERS["iresnet50"])
    state = random_state(shapes)
    path = tmp_path / "backbone.pth"
    torch.save(state, path)
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    result = r50.load_state_dict(loaded, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    for key, value in r50.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert not r50.features.weight.requires_grad    # loading does not unfreeze it


def test_reloaded_weights_give_identical_embeddings() -> None:
    torch.manual_seed(0)
    source = IResNet(IResNetConfig(**SMALL))
    target = IResNet(IResNetConfig(**SMALL))
    target.load_state_dict(source.state_dict(), strict=True)
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        torch.testing.assert_close(target(x), source(x), rtol=0, atol=0)


def test_converted_checkpoint_takes_facex_input() -> None:
    torch.manual_seed(0)
    # eval mode with fixed statistics: in train mode bn1 would normalise a wrong scale away; and
    # calibrated ones, since the initial mean 0 / variance 1 pass the growth of the N(0, 0.1²)
    # convolutions straight through
    insightface = calibrate_batchnorm(IResNet(IResNetConfig(**SMALL)))
    facex = IResNet(IResNetConfig(**SMALL)).eval()
    state = insightface.state_dict()
    facex.load_state_dict(convert_insightface_input(state), strict=True)
    assert torch.equal(state["conv1.weight"], insightface.conv1.weight)   # the input is not modified
    pixels = torch.randint(0, 256, (2, 3, 112, 112)).float()              # BGR, as cv2 reads them
    rgb = (pixels.flip(1) - 127.5) / 127.5                                # InsightFace's inference
    bgr = (pixels - 127.5) / 128.0                                        # FaceX's convention
    with torch.no_grad():
        reference = insightface(rgb)
        assert 0.1 < reference.abs().mean().item() < 10
        torch.testing.assert_close(facex(bgr), reference, rtol=1e-4, atol=1e-4)
        # reversing the channels without the 128 / 127.5 factor is measurably off
        facex.load_state_dict({**state, "conv1.weight": state["conv1.weight"].flip(1)})
        assert (facex(bgr) - reference).abs().max().item() > 1e-3


def test_insightface_details() -> None:
    net = IResNet(IResNetConfig(**SMALL))
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert len(norms) == 3 + 4 * 4 and all(m.eps == 1e-5 for m in norms)
    assert isinstance(net.dropout, torch.nn.Dropout) and net.dropout.p == 0.0
    assert net.fc.bias is not None and not net.fp16
    assert isinstance(net.features, torch.nn.BatchNorm1d) and net.features.affine
    block = net.layer2[0]
    assert block.conv1.stride == (1, 1) and block.conv2.stride == (2, 2)
    assert block.downsample[0].stride == (2, 2) and block.downsample[0].bias is None


# -- sizes -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(VARIANT_LAYERS))
def test_param_count_matches_architecture(name: str) -> None:
    net = facex_core.build("backbone", name)
    assert tuple(net.config.layers) == VARIANT_LAYERS[name]
    count = count_parameters(net)
    assert count == expected_params(expected_state_shapes(VARIANT_LAYERS[name]))
    if name in PUBLISHED_PARAMS_M:
        assert round(count / 1e6, 1) == PUBLISHED_PARAMS_M[name]


def test_published_counts_are_within_half_a_percent() -> None:
    counts = {name: expected_params(expected_state_shapes(VARIANT_LAYERS[name]))
              for name in PUBLISHED_PARAMS_M}
    assert counts == {"iresnet50": 43_590_848, "iresnet100": 65_156_160}
    for name, count in counts.items():
        assert abs(count / 1e6 - PUBLISHED_PARAMS_M[name]) / PUBLISHED_PARAMS_M[name] < 0.005


# -- initialisation and the frozen ``features`` weight --------------------------------------------

def test_initialisation_follows_insightface() -> None:
    torch.manual_seed(0)
    net = IResNet(IResNetConfig(**SMALL))
    std = net.layer3[0].conv2.weight.std().item()           # 590k samples of N(0, 0.1^2)
    assert abs(std - 0.1) < 0.002
    assert torch.equal(net.layer4[0].bn2.weight, torch.ones(512))
    assert torch.equal(net.bn2.bias, torch.zeros(512))
    assert torch.equal(net.features.weight, torch.ones(64))
    assert torch.equal(net.prelu.weight, torch.full((64,), 0.25))
    bound = 1 / math.sqrt(512 * 49)                          # PyTorch's default Linear init
    assert net.fc.weight.abs().max().item() <= bound


def test_features_weight_stays_fixed_in_training() -> None:
    torch.manual_seed(0)
    net = IResNet(IResNetConfig(**SMALL)).train()
    assert not net.features.weight.requires_grad and net.features.bias.requires_grad
    bias_before, fc_before = net.features.bias.clone(), net.fc.weight.clone()
    optimiser = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)
    net(torch.randn(2, 3, 112, 112)).sum(dim=1).pow(2).mean().backward()
    optimiser.step()
    assert net.features.weight.grad is None
    assert torch.equal(net.features.weight, torch.ones(64))
    assert not torch.equal(net.features.bias, bias_before)
    assert not torch.equal(net.fc.weight, fc_before)


# -- the backbone contract, export, fp16 and the upper-half-face input ---------------------------

def test_smallest_variant_meets_backbone_contract() -> None:
    torch.manual_seed(0)
    net = facex_core.build("backbone", "iresnet18")
    assert isinstance(net, IResNet) and net.embedding_size == 512
    check_backbone(net, batch=2)


def test_reduced_network_built_by_name_meets_backbone_contract() -> None:
    torch.manual_seed(0)
    net = facex_core.build("backbone", "iresnet100", layers=[1, 1, 1, 1], embedding_size=64)
    assert tuple(net.config.layers) == (1, 1, 1, 1) and net.embedding_size == 64
    check_backbone(net, batch=2)


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_reduced_network_exports() -> None:
    torch.manual_seed(0)
    check_backbone_export(IResNet(IResNetConfig(**SMALL)))


def test_fp16_runs_trunk_in_half_precision_and_head_in_float32() -> None:
    torch.manual_seed(0)
    full = IResNet(IResNetConfig(**SMALL)).train()
    half = IResNet(IResNetConfig(fp16=True, **SMALL)).train()
    half.load_state_dict(full.state_dict())
    seen = {}
    half.layer4.register_forward_hook(lambda _m, _i, out: seen.update(trunk=out.dtype))
    half.fc.register_forward_pre_hook(lambda _m, args: seen.update(fc_input=args[0].dtype))
    x = torch.randn(4, 3, 112, 112)
    with torch.no_grad():
        a, b = full(x), half(x)
    assert seen == {"trunk": torch.bfloat16, "fc_input": torch.float32}   # bfloat16 on CPU
    assert b.dtype == torch.float32 and torch.isfinite(b).all()
    assert torch.nn.functional.cosine_similarity(a, b).min().item() > 0.98


def test_upper_half_face_input() -> None:
    cfg = IResNetConfig(input_size=(60, 112), **SMALL)
    assert cfg.map_size == (4, 7)
    net = IResNet(cfg).eval()
    assert net.fc.in_features == 512 * 4 * 7
    with torch.no_grad():
        out = net(torch.randn(2, 3, 60, 112))
    assert out.shape == (2, 64) and torch.isfinite(out).all()
    assert count_parameters(net) == expected_params(expected_state_shapes((1, 1, 1, 1), 64, out_h=4, out_w=7))


def test_wrong_input_size_is_a_clear_error() -> None:
    net = IResNet(IResNetConfig(**SMALL))
    with pytest.raises(ValueError, match="input_size"):
        net(torch.randn(2, 3, 60, 112))


def test_invalid_configs_rejected() -> None:
    for bad in (dict(layers=(1, 1, 1)), dict(layers=(0, 1, 1, 1)), dict(embedding_size=0),
                dict(dropout=1.0), dict(dropout=-0.1), dict(input_size=(0, 112))):
        with pytest.raises(ValueError):
            IResNetConfig(**bad)


# -- registration ----------------------------------------------------------------------------------

def test_registration_is_torch_free() -> None:
    """``facex-core list`` imports every plugin module; none of them may pull in torch."""
    assert_light_module("facex_backbone_iresnet.plugin")
    assert [c.name for c in plugin.facex_components()] == [
        "iresnet18", "iresnet34", "iresnet50", "iresnet100", "iresnet200"]


def test_components_declared() -> None:
    comps = {c.name: c for c in plugin.facex_components()}
    assert set(comps) == set(VARIANT_LAYERS)
    for name, comp in comps.items():
        assert comp.kind == "backbone" and comp.factory == "facex_backbone_iresnet.iresnet:IResNet"
        assert issubclass(comp.config, IResNetConfig)
        assert tuple(comp.config().layers) == VARIANT_LAYERS[name]
        assert comp.config().embedding_size == 512 and comp.config().dropout == 0.0


# -- feature taps (Backbone.stages, used by distillation) ---------------------------------------


def test_stages_are_stem_and_the_four_layers() -> None:
    torch.manual_seed(0)
    net = IResNet(IResNetConfig(**SMALL, input_size=(32, 32)))
    check_backbone_stages(net, {"stem": (64, 32, 32), "stage1": (64, 16, 16), "stage2": (128, 8, 8),
                            "stage3": (256, 4, 4), "stage4": (512, 2, 2)})
