import pytest
import torch

import facex_core
from facex_core import FlattenEmbedding, feature_map_size, rename_output_layer, resolve_map_size


def test_feature_map_size_matches_real_convolutions():
    for size in [(112, 112), (60, 112), (57, 33)]:
        x = torch.zeros(1, 1, *size)
        conv = torch.nn.Conv2d(1, 1, 3, 2, 1)
        pool = torch.nn.MaxPool2d(2, 2)
        a, b = x, x
        for _ in range(4):
            a, b = conv(a), pool(b)
        assert feature_map_size(size) == tuple(a.shape[-2:])
        assert feature_map_size(size, rounding="floor") == tuple(b.shape[-2:])


def test_resolve_map_size_names_the_disagreeing_key():
    assert resolve_map_size((60, 112), 4, 7) == (4, 7)
    try:
        resolve_map_size((60, 112), 7, None)
    except ValueError as exc:
        assert "out_h=7" in str(exc) and "set out_h=4" in str(exc)
    else:
        raise AssertionError("mismatch accepted")


def test_facexzoo_output_layer_keys_load_into_flatten_embedding():
    target = FlattenEmbedding(4, 2, 2, 8, dropout=0.4)
    # FaceX-Zoo order: BN2d(0), Dropout(1), Flatten(2), Linear(3), BN1d(4)
    reference = torch.nn.Sequential(torch.nn.BatchNorm2d(4), torch.nn.Dropout(0.4), torch.nn.Flatten(),
                                    torch.nn.Linear(16, 8), torch.nn.BatchNorm1d(8))
    for p in reference.parameters():
        torch.nn.init.normal_(p)
    sd = {f"output_layer.{k}": v for k, v in reference.state_dict().items()}
    sd["other.weight"] = torch.ones(1)
    renamed = rename_output_layer(sd)
    assert renamed["other.weight"] is sd["other.weight"]
    target.load_state_dict({k[len("output_layer."):]: v for k, v in renamed.items() if k.startswith("output_layer.")})
    x = torch.randn(3, 4, 2, 2)
    reference.eval(), target.eval()
    torch.testing.assert_close(target(x), reference(x))


def test_check_input_reports_expected_size():
    net = facex_core.build("backbone", "tiny")
    try:
        net.check_input(torch.zeros(1, 3, 64, 64))
    except ValueError as exc:
        assert "32 x 32" in str(exc)
    else:
        raise AssertionError("wrong size accepted")


def test_forward_taps_return_the_named_stage_outputs_of_one_pass():
    import facex_core

    backbone = facex_core.build("backbone", "tiny").eval()
    images = torch.randn(2, 3, 32, 32)
    emb, maps = backbone.forward_taps(images, ["stage2", "stage1"])
    with torch.no_grad():
        first = backbone.features[:3](images)
        second = backbone.features[3:6](first)
    torch.testing.assert_close(maps["stage1"], first)
    torch.testing.assert_close(maps["stage2"], second)
    torch.testing.assert_close(emb, backbone(images))
    assert not backbone.features[2]._forward_hooks  # the taps are removed afterwards
    with pytest.raises(ValueError, match="no stage 'stage9'"):
        backbone.forward_taps(images, ["stage9"])


def test_check_backbone_stages_accepts_the_true_shapes_and_refuses_wrong_order_or_shape():
    import facex_core
    from facex_core.testing import check_backbone_stages

    backbone = facex_core.build("backbone", "tiny")
    w = backbone.config.width
    h, wd = backbone.input_size
    true = {"stage1": (w, h // 2, wd // 2), "stage2": (2 * w, h // 4, wd // 4)}
    check_backbone_stages(backbone, true)
    with pytest.raises(AssertionError):
        check_backbone_stages(backbone, {"stage2": true["stage2"], "stage1": true["stage1"]})
    with pytest.raises(AssertionError):
        check_backbone_stages(backbone, {"stage1": true["stage1"], "stage2": (2 * w, 1, 1)})
