"""ONNX models next to FaceX checkpoints: the input convention an ONNX file expects (FaceX's export
metadata, InsightFace's rule) and evaluation of both kinds in one table."""
import io
import json

import cv2
import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

import facex_core
from facex_core.testing import torch_threads


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def experiment(root, models=(), **data):
    """The doubles' tiny backbone, a toy identity folder and the pairs protocol; ``data`` sets [data] keys."""
    return facex_core.Experiment({
        "experiment": {"name": "onnx", "output_dir": str(root / "run")},
        "prepare": [{"name": "squares", "output": str(root / "data"), "identities": 6}],
        "data": {"root": str(root / "data/images"), "train_list": str(root / "data/train_list.txt"), **data},
        "backbone": {"name": "tiny"},
        "evaluation": {"num_workers": 0, "models": list(models),
                       "protocols": [{"name": "pairs", "pairs_file": str(root / "data/pairs.txt"),
                                      "image_root": str(root / "data/images")}]},
    })


def trained_pair(root, **data):
    """(checkpoint, its ONNX export with the checkpoint's convention, the backbone) of random weights."""
    exp = experiment(root, **data)
    exp.prepare_data()
    torch.manual_seed(0)
    backbone = exp.build_backbone().eval()
    facex_core.save_backbone_checkpoint(root / "model.pt", exp.resolved(), backbone)
    facex_core.export_onnx(backbone, root / "model.onnx", preprocess=facex_core.preprocess_of(exp.data))
    return root / "model.pt", root / "model.onnx", backbone


def normalise(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_export_stores_the_checkpoints_convention_and_onnx_convention_reads_it(tmp_path):
    exp = experiment(tmp_path, channels="RGB", std=127.5, crop_eye=False)
    backbone = exp.build_backbone()
    buf = io.BytesIO()
    facex_core.export_onnx(backbone, buf, preprocess=facex_core.Preprocess(channels="RGB", mean=127.5, std=127.5))
    props = {p.key: p.value for p in onnx.load_from_string(buf.getvalue()).metadata_props}
    assert {k: props[k] for k in props if k.startswith("facex.")} == {
        "facex.channels": "RGB", "facex.mean": "127.5", "facex.std": "127.5", "facex.crop_eye": "False"}
    conv = facex_core.onnx_convention(buf.getvalue())
    assert conv == {"channels": "RGB", "mean": 127.5, "std": 127.5, "crop_eye": False,
                    "source": "FaceX export metadata"}
    facex_core.export_onnx(backbone, tmp_path / "eye.onnx",
                           preprocess=facex_core.Preprocess(crop_eye=True, channels="BGR", mean=120.0, std=60.0))
    conv = facex_core.onnx_convention(tmp_path / "eye.onnx")
    assert (conv["channels"], conv["mean"], conv["std"], conv["crop_eye"]) == ("BGR", 120.0, 60.0, True)


def test_a_facex_export_without_metadata_gets_facexzoos_convention(tmp_path):
    buf = io.BytesIO()
    facex_core.export_onnx(experiment(tmp_path).build_backbone(), buf)
    assert not [p for p in onnx.load_from_string(buf.getvalue()).metadata_props if p.key.startswith("facex.")]
    conv = facex_core.onnx_convention(buf.getvalue())
    assert (conv["channels"], conv["mean"], conv["std"], conv["crop_eye"]) == ("BGR", 127.5, 128.0, False)


def graph_model(node_names, input_name="data"):
    """A 1×3×2×2 → 1×12 graph whose first nodes carry ``node_names`` (Sub and Mul when the name says so)."""
    nodes, value = [], input_name
    for i, name in enumerate(node_names):
        op = "Sub" if name.lower().startswith(("sub", "_minus")) else "Mul" if "mul" in name.lower() else "Identity"
        out = f"t{i}"
        inputs = [value, "c"] if op in ("Sub", "Mul") else [value]
        nodes.append(helper.make_node(op, inputs, [out], name=name))
        value = out
    nodes.append(helper.make_node("Flatten", [value], ["fc1"], name="flatten"))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 3, 2, 2])],
                              [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [1, 12])],
                              [helper.make_tensor("c", TensorProto.FLOAT, [], [1.0])])
    return helper.make_model(graph).SerializeToString()


@pytest.mark.parametrize("names, mean, std", [
    (["_minusscalar0", "_mulscalar0", "conv0"], 0.0, 1.0),    # an MXNet-converted InsightFace model
    (["Sub_0", "Mul_1"], 0.0, 1.0),
    (["conv0", "_minusscalar0"], 127.5, 127.5),               # subtracts but does not scale
    (["conv0", "bn0", "relu0"], 127.5, 127.5),                # arcface_torch's PyTorch exports
    ([f"n{i}" for i in range(8)] + ["_minusscalar0", "_mulscalar0"], 127.5, 127.5),  # past the first 8 nodes
])
def test_other_models_follow_insightfaces_arcfaceonnx_rule(names, mean, std):
    conv = facex_core.onnx_convention(graph_model(names))
    assert (conv["channels"], conv["mean"], conv["std"]) == ("RGB", mean, std)
    assert conv["source"].startswith("InsightFace's rule")


def cached_features(root):
    """{cache folder name: (paths, features)} of every finished feature cache under the run folder."""
    return {d.name: (json.loads((d / "paths.json").read_text()), np.load(d / "features.npy"))
            for d in (root / "run" / "features").iterdir() if (d / "features.npy").exists()}


def by_hand(backbone, root, paths, channels, mean, std):
    """Flip-summed, normalised features computed here from the formula (independent of the engine)."""
    images = [cv2.imread(str(root / "data/images" / p)) for p in paths]
    arr = np.stack([(im[:, :, ::-1] if channels == "RGB" else im).astype(np.float32) for im in images])
    x = torch.from_numpy(((arr - mean) / std).transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        return normalise((backbone(x) + backbone(torch.flip(x, dims=[3]))).numpy())


def test_a_checkpoint_and_its_onnx_export_give_the_same_accuracy_in_one_table(tmp_path):
    pt, onnx_file, backbone = trained_pair(tmp_path, channels="RGB", std=127.5)
    exp = experiment(tmp_path, [{"label": "pytorch", "checkpoints": [str(pt)]},
                                {"label": "onnx", "checkpoints": [str(onnx_file)]}], channels="RGB", std=127.5)
    from facex_core.engine.evaluate import evaluate_models

    models = evaluate_models(exp)
    acc = [m.results["pairs"].metrics["accuracy"] for m in models]
    assert acc[0] == acc[1], acc  # the features are compared below
    table = facex_core.markdown_table(models)
    assert "| pytorch |" in table and "| onnx |" in table
    caches = list(cached_features(tmp_path).values())
    assert len(caches) == 2 and caches[0][0] == caches[1][0]
    paths = caches[0][0]
    expected = by_hand(backbone, tmp_path, paths, "RGB", 127.5, 127.5)
    for _, feats in caches:  # both rows: the model's RGB, (x - 127.5) / 127.5 input, not FaceX-Zoo's default
        assert np.abs(feats - expected).max() < 1e-4


def rename_input(src, dst, name):
    """The ONNX file with its input renamed (it no longer looks like a FaceX export) and no metadata."""
    proto = onnx.load(src)
    old = proto.graph.input[0].name
    proto.graph.input[0].name = name
    for node in proto.graph.node:
        node.input[:] = [name if i == old else i for i in node.input]
    del proto.metadata_props[:]
    onnx.save(proto, dst)


def test_an_unrecognisable_onnx_file_takes_the_models_entry_settings_and_the_cache_key_follows(tmp_path):
    pt, onnx_file, backbone = trained_pair(tmp_path)  # trained BGR, (x - 127.5) / 128
    rename_input(onnx_file, tmp_path / "other.onnx", "data")
    guessed = facex_core.onnx_convention(tmp_path / "other.onnx")
    assert (guessed["channels"], guessed["std"]) == ("RGB", 127.5)  # InsightFace's rule: wrong for this model
    exp = experiment(tmp_path, [{"label": "guessed", "checkpoints": [str(tmp_path / "other.onnx")]},
                                {"label": "set", "checkpoints": [str(tmp_path / "other.onnx")],
                                 "channels": "BGR", "mean": 127.5, "std": 128.0}])
    from facex_core.engine.evaluate import evaluate_models

    evaluate_models(exp)
    caches = list(cached_features(tmp_path).values())
    assert len(caches) == 2  # same file, other input convention: its own cache entry
    paths = caches[0][0]
    right = by_hand(backbone, tmp_path, paths, "BGR", 127.5, 128.0)
    wrong = by_hand(backbone, tmp_path, paths, "RGB", 127.5, 127.5)
    errors = sorted(np.abs(f - right).max() for _, f in caches)
    assert errors[0] < 1e-4 and errors[1] > 1e-3
    assert any(np.abs(f - wrong).max() < 1e-4 for _, f in caches)


def test_model_entry_settings_are_validated(tmp_path):
    with pytest.raises(facex_core.ConfigError, match="evaluation.models"):
        experiment(tmp_path, [{"checkpoints": ["m.onnx"], "channels": "GRB"}])
    with pytest.raises(facex_core.ConfigError, match="std"):
        experiment(tmp_path, [{"checkpoints": ["m.onnx"], "std": 0.0}])


def test_a_static_batch_onnx_model_runs_in_padded_slices(tmp_path):
    pt, onnx_file, backbone = trained_pair(tmp_path)
    proto = onnx.load(onnx_file)
    proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 4
    onnx.save(proto, tmp_path / "static.onnx")
    from facex_core.engine.evaluate import _OnnxNet

    net = _OnnxNet(tmp_path / "static.onnx")
    x = torch.randn(7, 3, 32, 32)
    with torch.no_grad():
        assert net.onnx.fixed_batch == 4 and net.input_size == (32, 32)
        assert torch.allclose(net(x), backbone(x), atol=1e-4)


def test_evaluate_command_puts_a_checkpoint_and_an_onnx_file_in_one_table(tmp_path, cli):
    pt, onnx_file, _ = trained_pair(tmp_path)
    res = cli("evaluate", str(pt), "--checkpoint", str(pt), "--checkpoint", str(onnx_file),
              "--out", str(tmp_path / "out"), "--set", "evaluation.num_workers=0", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|---"))
    rows = [line.split("|")[2:-1] for line in lines[start + 1:] if line.startswith("| ")]
    assert len(rows) == 2 and rows[0] == rows[1], res.stdout  # two rows, the same accuracy
    assert "ONNX model fed" in res.stderr and "FaceX export metadata" in res.stderr


def test_export_command_records_and_prints_the_checkpoints_own_convention(tmp_path, cli):
    pt, _, _ = trained_pair(tmp_path, channels="RGB", std=127.5)
    res = cli("export", "onnx", str(pt), str(tmp_path / "cli.onnx"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "(RGB, (x-127.5)/127.5" in res.stdout, res.stdout
    conv = facex_core.onnx_convention(tmp_path / "cli.onnx")
    assert (conv["channels"], conv["mean"], conv["std"]) == ("RGB", 127.5, 127.5)


def test_a_graph_that_declares_a_free_batch_but_builds_in_batch_one_runs_face_by_face(tmp_path):
    """InsightFace's torch2onnx marks the batch axis free after tracing at batch 1; a ViT's reshapes keep the 1."""
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [1, 12])
    graph = helper.make_graph([helper.make_node("Reshape", ["x", "shape"], ["y"])], "vit_like",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 12])], initializer=[shape])
    model = facex_core.OnnxFaceModel(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
                                     .SerializeToString())
    assert model.fixed_batch is None  # as declared
    x = np.random.default_rng(0).standard_normal((3, 3, 2, 2)).astype(np.float32)
    np.testing.assert_array_equal(model.run(x), x.reshape(3, 12))
    assert model.fixed_batch == 1  # found once, kept
