"""InsightFace arcface_torch IResNet, MBF and ViT: ``backbone.pth`` state dicts and ONNX files (exported
the way ``torch2onnx.py`` does, by both of torch's exporters, and a model pack that normalises its
input inside the graph) import into FaceX checkpoints whose evaluation-path embeddings of aligned
crops equal InsightFace's own (its PyTorch inference, or onnxruntime on its ArcFaceONNX input),
cosine >= 0.9999; graphs of another architecture are refused naming the first tensor that does not fit."""
from __future__ import annotations

import json
import os

import numpy as np
import onnx
import pytest
import torch
from torch import nn

import insight_nets as insight
import support
from facex_core import ConfigError, DataError
from facex_import.pipeline import import_weights

MIN_COSINE = 0.9999
REPORT = os.environ.get("FACEX_IMPORT_REPORT")


def _record(case: str, cos: torch.Tensor) -> None:
    if REPORT:
        with open(REPORT, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"source": "insightface", "case": case, "min_cosine": float(cos.min())}) + "\n")


def _calibrated(net: nn.Module, seed: int = 1) -> nn.Module:
    """Random weights, BatchNorm statistics measured on InsightFace-preprocessed crops, then perturbed."""
    torch.manual_seed(0)
    return support.randomize(net, seed=seed, inputs=insight.inference_input(support.synthetic_crops(8, seed=5)))


#: case -> (get_model name, network builder, --set overrides, FaceX backbone expected)
PTH = {
    "r18": ("r18", lambda: insight.IResNet((2, 2, 2, 2)), [], "iresnet18"),
    "mbf": ("mbf", lambda: insight.MobileFaceNet(512, (1, 4, 6, 2), 2), [], "mbf"),
    "mbf_large": ("mbf_large", lambda: insight.MobileFaceNet(128, (2, 8, 12, 4), 4), ["num_features=128"], "mbf"),
    "vit_t": ("vit_t", lambda: insight.VisionTransformer(depth=2), ["depth=2"], "vit_t"),
}


@pytest.mark.parametrize("case", list(PTH))
def test_backbone_pth_reproduces_insightface_embeddings(case, tmp_path):
    name, make, sets, facex_name = PTH[case]
    net = _calibrated(make())
    crops = support.crops(3)
    with torch.no_grad():
        reference = net(insight.inference_input(crops))
    assert float(support.cosines(reference[:1], reference[1:2])) < 0.99
    src = tmp_path / "backbone.pth"
    if case == "mbf":  # a resume checkpoint: the state dict under 'state_dict_backbone'
        src = tmp_path / "checkpoint_gpu_0.pt"
        torch.save({"epoch": 3, "global_step": 1200, "state_dict_backbone": net.state_dict(),
                    "state_dict_softmax_fc": {"weight": torch.randn(10, 512)}}, src)
    else:  # train_v2.py: torch.save(backbone.module.state_dict(), path_module)
        torch.save(net.state_dict(), src)
    out = tmp_path / "imported.pt"
    result = import_weights("insightface", src, name, out, overrides=[f"backbone.{s}" for s in sets])
    assert result.backbone["name"] == facex_name
    assert (result.data["channels"], result.data["mean"], result.data["std"]) == ("RGB", 127.5, 127.5)
    cos = support.cosines(support.facex_embeddings(out, crops), reference)
    _record(f"{case} (.pth)", cos)
    assert float(cos.min()) >= MIN_COSINE, cos.tolist()


class Normalising(nn.Module):
    """An MXNet-converted model pack: the graph subtracts 127.5 and multiplies by 1/128 itself."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net((x - 127.5) * 0.0078125)


def _mxnet_names(path) -> None:
    """Name the normalisation nodes as the MXNet converter does (what ArcFaceONNX looks for)."""
    model = onnx.load(str(path))
    for node in model.graph.node[:8]:
        if node.op_type == "Sub":
            node.name = "_minus0"
        elif node.op_type == "Mul":
            node.name = "_mul0"
    onnx.save(model, str(path))


#: case -> (get_model name, builder, --set overrides, exporter: legacy / dynamo / pack)
ONNX = {
    "iresnet-torch2onnx": ("r50", lambda: insight.IResNet((1, 1, 1, 1), num_features=64),
                           ["layers=[1,1,1,1]", "num_features=64"], "legacy"),
    "iresnet-dynamo": ("r50", lambda: insight.IResNet((1, 1, 1, 1), num_features=64),
                       ["layers=[1,1,1,1]", "num_features=64"], "dynamo"),
    "mbf-torch2onnx": ("mbf", lambda: insight.MobileFaceNet(512, (1, 4, 6, 2), 2), [], "legacy"),
    "vit-torch2onnx": ("vit_t", lambda: insight.VisionTransformer(depth=2), ["depth=2"], "legacy"),
    "vit-dynamo": ("vit_t", lambda: insight.VisionTransformer(depth=2), ["depth=2"], "dynamo"),
    "pack-normalising": ("r50", lambda: insight.IResNet((1, 1, 1, 1), num_features=64),
                         ["layers=[1,1,1,1]", "num_features=64"], "pack"),
}


def _export(case: str, tmp_path):
    name, make, sets, how = ONNX[case]
    net = _calibrated(make())
    path = tmp_path / "model.onnx"
    if how == "pack":
        insight.torch2onnx(Normalising(net), path)
        _mxnet_names(path)
    else:
        insight.torch2onnx(net, path, opset=11 if how == "legacy" else 18, dynamo=how == "dynamo")
    return name, sets, path


@pytest.mark.parametrize("case", list(ONNX))
def test_onnx_reproduces_onnxruntime_embeddings(case, tmp_path):
    import onnxruntime as ort

    name, sets, path = _export(case, tmp_path)
    if ONNX[case][3] == "legacy" and "iresnet" in case:
        ops = [n.op_type for n in onnx.load(str(path)).graph.node]
        assert ops.count("BatchNormalization") < ops.count("Conv")  # the exporter folded BN into convs
    crops = support.crops(3)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    blob = insight.arcface_onnx_input(crops, path)
    reference = np.concatenate([session.run(None, {"data": blob[i:i + 1]})[0] for i in range(len(crops))])
    assert float(support.cosines(reference[:1], reference[1:2])) < 0.99
    out = tmp_path / "imported.pt"
    result = import_weights("insightface", path, name, out, overrides=[f"backbone.{s}" for s in sets])
    assert result.source["format"] == "onnx" and result.checks["onnxruntime_min_cosine"] >= MIN_COSINE
    expected_std = 128.0 if case == "pack-normalising" else 127.5
    assert result.data["channels"] == "RGB" and result.data["mean"] == pytest.approx(127.5)
    assert result.data["std"] == pytest.approx(expected_std)
    cos = support.cosines(support.facex_embeddings(out, crops), reference)
    _record(f"{case} (.onnx)", cos)
    assert float(cos.min()) >= MIN_COSINE, cos.tolist()


def test_sdk_recognizer_embeds_like_insightface(tmp_path):
    """The SDK's ``facex`` recognizer takes an imported checkpoint and its RGB / 127.5 convention."""
    import facex_core

    net = _calibrated(insight.MobileFaceNet(512, (1, 4, 6, 2), 2))
    torch.save(net.state_dict(), tmp_path / "backbone.pth")
    import_weights("insightface", tmp_path / "backbone.pth", "mbf", tmp_path / "mbf.pt")
    crops = support.crops(3)
    with torch.no_grad():
        reference = net(insight.inference_input(crops))
    recognizer = facex_core.build("recognizer", "facex", checkpoint=str(tmp_path / "mbf.pt"), flip="none",
                                  device="cpu")
    cos = support.cosines(torch.from_numpy(recognizer.embed(crops)), reference)
    assert float(cos.min()) >= MIN_COSINE


def test_onnx_of_another_architecture_is_refused_naming_the_first_tensor(tmp_path):
    name, sets, path = _export("iresnet-torch2onnx", tmp_path)  # layers 1,1,1,1
    with pytest.raises(DataError) as err:
        import_weights("insightface", path, "r18", tmp_path / "r18.pt", overrides=["backbone.num_features=64"])
    message = str(err.value)
    assert "model.onnx: tensor " in message and "[128, 64, 3, 3] of Conv node" in message
    assert "iresnet18's layer1.1.conv1" in message and "not this iresnet18" in message
    with pytest.raises(DataError, match=r"does not fit mbf's conv1\.conv"):
        import_weights("insightface", path, "mbf", tmp_path / "mbf.pt")
    assert not (tmp_path / "r18.pt").exists() and not (tmp_path / "mbf.pt").exists()


def test_a_smaller_graph_than_named_is_refused(tmp_path):
    _, _, path = _export("iresnet-torch2onnx", tmp_path)
    with pytest.raises(DataError, match="left over|does not fit|the end of the graph"):
        import_weights("insightface", path, "r50", tmp_path / "out.pt",
                       overrides=["backbone.layers=[1,1,1,2]", "backbone.num_features=64"])


def test_pth_of_another_depth_is_refused_naming_the_tensor(tmp_path):
    net = insight.IResNet((2, 2, 2, 2), num_features=64)
    torch.save(net.state_dict(), tmp_path / "backbone.pth")
    with pytest.raises(DataError, match=r"holds no tensor for iresnet50's layer1\.2\.bn1\.weight \[64\]"):
        import_weights("insightface", tmp_path / "backbone.pth", "iresnet50", tmp_path / "out.pt",
                       overrides=["backbone.num_features=64"])


def test_unknown_network_lists_the_importers(tmp_path):
    (tmp_path / "x.pth").write_bytes(b"\x80")
    with pytest.raises(ConfigError, match=r"no insightface importer .*r18.*vit_t"):
        import_weights("insightface", tmp_path / "x.pth", "r27", tmp_path / "out.pt")
