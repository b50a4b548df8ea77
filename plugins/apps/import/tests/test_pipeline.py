"""What an import records and refuses: the checkpoint's source record and convention, FaceX-Zoo's
checkpoint layouts and heads, the destination rules, unreadable or unsafe files, bad options."""
from __future__ import annotations

import hashlib
import pickle

import pytest
import torch
from torch import nn

import support
import zoo_cnn
import zoo_more
from facex_core import ConfigError, DataError, Experiment, load_checkpoint
from facex_import.pipeline import import_weights


@pytest.fixture(scope="module")
def mobilefacenet():
    torch.manual_seed(0)
    calibration = support.facexzoo_input(support.synthetic_crops(4, seed=5))
    return support.randomize(zoo_cnn.MobileFaceNet(64, 7, 7), seed=2, inputs=calibration)


@pytest.fixture
def epoch_file(tmp_path, mobilefacenet):
    return support.save_facexzoo(tmp_path / "Epoch_9_batch_2999.pt", mobilefacenet, epoch=9, batch_id=2999)


def _import(src, out, *sets, **kwargs):
    return import_weights("facexzoo", src, "MobileFaceNet", out, overrides=["backbone.feat_dim=64", *sets], **kwargs)


def test_checkpoint_records_source_and_input_convention(epoch_file, tmp_path):
    _import(epoch_file, tmp_path / "mfn.pt")
    ckpt = load_checkpoint(tmp_path / "mfn.pt")
    source = ckpt["source"]
    assert source["framework"] == "facexzoo" and source["file"] == "Epoch_9_batch_2999.pt"
    assert source["sha256"] == hashlib.sha256(epoch_file.read_bytes()).hexdigest()
    assert (source["epoch"], source["batch_id"], source["container"]) == (9, 2999, "state_dict")
    assert source["importer"] == "facex-import:facexzoo.mobilefacenet"
    assert source["importer_config"] == {"feat_dim": 64, "out_h": 7, "out_w": 7}
    data = ckpt["config"]["data"]
    assert (data["channels"], data["mean"], data["std"], data["crop_eye"], data["root"]) == ("BGR", 127.5, 128.0,
                                                                                                False, "")
    assert tuple(ckpt["config"]["backbone"]["input_size"]) == (112, 112)
    assert set(ckpt["model"]) == {f"backbone.{k}" for k in zoo_cnn.MobileFaceNet(64).state_dict()}
    assert ckpt["components"]["backbone"]["distribution"] == "facex-backbone-mobilefacenet"
    exp = Experiment.from_checkpoint(tmp_path / "mfn.pt")
    assert exp.backbone.name == "mobilefacenet" and exp.data.std == 128.0


@pytest.mark.parametrize("layout", ["feat_net", "bare", "data_parallel_bare"])
def test_other_facexzoo_layouts(layout, tmp_path, mobilefacenet):
    state = mobilefacenet.state_dict()
    if layout == "feat_net":  # the older scripts' prefix (FaceX-Zoo issue #124)
        state = {f"feat_net.{k}": v for k, v in state.items()}
    elif layout == "data_parallel_bare":
        state = nn.DataParallel(mobilefacenet).state_dict()
    torch.save(state, tmp_path / "weights.pt")
    _import(tmp_path / "weights.pt", tmp_path / "mfn.pt")
    crops = support.crops(2)
    with torch.no_grad():
        reference = mobilefacenet(support.facexzoo_input(crops))
    assert float(support.cosines(support.facex_embeddings(tmp_path / "mfn.pt", crops), reference).min()) >= 0.9999


@pytest.mark.parametrize("head", ["weight", "kernel", "W"])
def test_with_head_keeps_the_class_centres_rows_first(head, tmp_path, mobilefacenet):
    """FaceX-Zoo stores ArcFace/MV-Softmax/... ``weight`` and CurricularFace/AdaM ``kernel`` as D x C,
    AdaCos's ``W`` as C x D; FaceX heads hold C x D."""
    centres = torch.randn(13, 64)
    module = nn.Module()
    setattr(module, head, nn.Parameter(centres.clone() if head == "W" else centres.t().clone()))
    if head == "kernel":
        module.register_buffer("t", torch.zeros(1))
    src = support.save_facexzoo(tmp_path / "Epoch_1.pt", mobilefacenet, head=module)
    result = _import(src, tmp_path / "mfn.pt", with_head=True)
    ckpt = load_checkpoint(tmp_path / "mfn.pt")
    assert torch.equal(ckpt["model"]["head.classifier.weight"], centres)
    assert (result.source["head_classes"], result.source["head_key"]) == (13, f"head.{head}")
    # the layout of every FaceX margin head: a fine-tune on the same identities loads it as is
    import facex_core

    arcface = facex_core.build("head", "arcface", num_classes=13, embedding_size=64)
    arcface.load_state_dict({"classifier.weight": ckpt["model"]["head.classifier.weight"]}, strict=True)


def test_with_head_needs_a_head(tmp_path, mobilefacenet):
    torch.save(mobilefacenet.state_dict(), tmp_path / "weights.pt")
    with pytest.raises(DataError, match="holds no head"):
        _import(tmp_path / "weights.pt", tmp_path / "mfn.pt", with_head=True)
    assert not (tmp_path / "mfn.pt").exists()


def test_destination_rules(epoch_file, tmp_path):
    out = tmp_path / "mfn.pt"
    out.write_bytes(b"keep me")
    with pytest.raises(ConfigError, match="exists; pass --overwrite"):
        _import(epoch_file, out)
    assert out.read_bytes() == b"keep me"
    with pytest.raises(DataError):  # a failed import replaces nothing, even with --overwrite
        import_weights("facexzoo", epoch_file, "ResNet", out, overwrite=True)
    assert out.read_bytes() == b"keep me"
    _import(epoch_file, out, overwrite=True)
    assert load_checkpoint(out)["source"]["file"] == epoch_file.name
    with pytest.raises(ConfigError, match="is the source file itself"):
        _import(epoch_file, epoch_file, overwrite=True)
    with pytest.raises(ConfigError, match="is a folder"):
        _import(epoch_file, tmp_path)


def test_wrong_architecture_names_the_first_tensor(epoch_file, tmp_path):
    net = zoo_cnn.Resnet(50, 0.4, "ir", 32, units=(1, 1, 1, 1))
    src = support.save_facexzoo(tmp_path / "Epoch_1.pt", net)
    with pytest.raises(DataError, match=r"Epoch_1\.pt: holds no tensor for resnet50_irse's body\.0\.res_layer\.5"):
        import_weights("facexzoo", src, "ResNet", tmp_path / "o.pt",
                       overrides=["backbone.depth=50", "backbone.feat_dim=32", "backbone.units=[1,1,1,1]"])
    with pytest.raises(DataError, match=r"tensor 'output_layer\.3\.weight' \[32, 25088\] does not fit "
                                        r"resnet50_ir's output_layer\.linear\.weight \[512, 25088\]"):
        import_weights("facexzoo", src, "ResNet", tmp_path / "o.pt",
                       overrides=["backbone.depth=50", "backbone.net_mode=ir", "backbone.units=[1,1,1,1]"])
    with pytest.raises(DataError, match="has no place in mobilefacenet|holds no tensor for mobilefacenet"):
        import_weights("facexzoo", src, "MobileFaceNet", tmp_path / "o.pt")


def test_pickled_code_is_never_run(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (marker.touch, ())

    with open(tmp_path / "face_recognition_mv.pkl", "wb") as fh:
        pickle.dump({"model": Payload()}, fh, protocol=2)
    with pytest.raises(DataError, match="refused: the file pickles code"):
        import_weights("facexzoo", tmp_path / "face_recognition_mv.pkl", "MobileFaceNet", tmp_path / "o.pt")
    assert not marker.exists()


@pytest.mark.parametrize("content, message", [
    (None, "no such file"), (b"", "empty file"), (b"PK\x03\x04 broken zip", "not a readable PyTorch file"),
    ({"epoch": 3, "note": "no weights"}, "no state dict found"), ([1, 2], "holds a list, not a state dict"),
    (b"facexzoo", "not a readable ONNX model"),
])
def test_unreadable_sources(content, message, tmp_path):
    src = tmp_path / "model.pt"
    if isinstance(content, bytes):
        src.write_bytes(content)
    elif content is not None:
        torch.save(content, src)
    with pytest.raises(DataError, match=message):
        import_weights("insightface", src, "mbf", tmp_path / "o.pt")


def test_non_finite_weights_are_refused(tmp_path, mobilefacenet):
    state = {k: v.clone() for k, v in mobilefacenet.state_dict().items()}
    state["conv_23.conv_dw.bn.running_var"][3] = float("nan")
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in state.items()}}, tmp_path / "nan.pt")
    with pytest.raises(DataError, match="conv_23.conv_dw.bn.running_var' holds NaN"):
        _import(tmp_path / "nan.pt", tmp_path / "o.pt")


@pytest.mark.parametrize("sets, message", [
    (["backbone.depth=34"], r"backbone\.depth: must be one of 50, 100, 152"),
    (["backbone.colour=3"], r"colour"),
    (["head.scale=3"], "only backbone.KEY=VALUE"),
    (["backbone.name=x"], "chosen with --backbone"),
])
def test_bad_overrides(sets, message, epoch_file, tmp_path):
    with pytest.raises(ConfigError, match=message):
        import_weights("facexzoo", epoch_file, "ResNet", tmp_path / "o.pt", overrides=sets)


def test_configurations_facexzoo_cannot_run_are_refused(epoch_file, tmp_path):
    with pytest.raises(ConfigError, match=r"backbone\.out_h: must be one of 7"):
        import_weights("facexzoo", epoch_file, "LightCNN", tmp_path / "o.pt", overrides=["backbone.out_h=4"])
    with pytest.raises(ConfigError, match=r"NUM_BLOCKS: FaceX's HRNet has the same block count"):
        import_weights("facexzoo", epoch_file, "HRNet", tmp_path / "o.pt",
                       overrides=["backbone.EXTRA.STAGE2.NUM_BLOCKS=[4,2]"])
    with pytest.raises(ConfigError, match="needs 4 stages"):
        import_weights("facexzoo", epoch_file, "SwinTransformer", tmp_path / "o.pt",
                       overrides=["backbone.depths=[2,2,2]"])


def test_efficientnet_padded_unlike_tensorflow_pads_like_facexzoo(tmp_path):
    # image_size 112 (FaceX-Zoo's default): block 11 padded (2, 2), not TensorFlow's (1, 2); the FaceX
    # backbone records FaceX-Zoo's padding and loads strictly (equivalence: test_facexzoo.py)
    net = zoo_more.EfficientNet(7, 7, 16, depth=1.0, image_size=112)
    src = support.save_facexzoo(tmp_path / "Epoch_1.pt", net)
    result = import_weights("facexzoo", src, "EfficientNet", tmp_path / "o.pt", overrides=["backbone.feat_dim=16"])
    assert result.backbone["facexzoo_image_size"] == 112
    exp = Experiment.from_checkpoint(tmp_path / "o.pt")
    assert exp.backbone.config.facexzoo_image_size == 112
    assert exp.build_backbone().blocks[11].depthwise.pads == ((2, 2), (2, 2))


def test_efficientnet_facexzoo_cannot_run_is_refused(tmp_path):
    # the 60-row crop padded for 224 ends at 3x7 in FaceX-Zoo, so its out_h=4 output layer cannot take it
    net = zoo_more.EfficientNet(7, 7, 16, depth=0.5, image_size=224)
    src = support.save_facexzoo(tmp_path / "Epoch_1.pt", net)
    with pytest.raises(ConfigError, match=r"image_size=224 with out_h=4, out_w=7: .* 60x112 crop to a last map of "
                                          r"3x7, not 4x7"):
        import_weights("facexzoo", src, "EfficientNet", tmp_path / "o.pt",
                       overrides=["backbone.feat_dim=16", "backbone.depth=0.5", "backbone.image_size=224",
                                  "backbone.out_h=4"])
    assert not (tmp_path / "o.pt").exists()


def test_onnx_is_not_a_facexzoo_format(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07")
    with pytest.raises(DataError, match="an onnx file; the facexzoo.mobilefacenet importer reads torch files"):
        import_weights("facexzoo", tmp_path / "model.onnx", "MobileFaceNet", tmp_path / "o.pt")


def test_onnx_check_runs_a_fixed_batch_graph_and_refuses_another_input_size(tmp_path):
    pytest.importorskip("onnxruntime")
    from facex_import.pipeline import verify_onnx

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.Flatten()).eval()
    with torch.no_grad():  # a batch of one, as many exports fix it: the check must feed it face by face
        torch.onnx.export(net, (torch.randn(1, 3, 32, 32),), tmp_path / "m.onnx", dynamo=False, input_names=["x"])
    net.input_size = (32, 32)
    same = {"mean": 127.5, "std": 128.0}
    assert verify_onnx(tmp_path / "m.onnx", net, (127.5, 128.0), same, samples=3) > 0.99999
    # fed other pixels than the recorded convention says, the two disagree: the check can fail
    assert verify_onnx(tmp_path / "m.onnx", net, (0.0, 1.0), same, samples=3) < 0.9999
    net.input_size = (40, 40)
    with pytest.raises(DataError, match="m.onnx: the graph takes 32 x 32 inputs, the imported network 40 x 40"):
        verify_onnx(tmp_path / "m.onnx", net, (127.5, 128.0), same)
