"""FaceX and ONNX recognizers on a tiny train-free checkpoint; the full SDK pipeline on test1.jpg."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import facex_core
from facex_core.testing import torch_threads

REPO = Path(__file__).resolve().parents[4]
SDK_DATA = REPO.parent / "shared" / "data" / "facexzoo-sdk"


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):  # shared 2-core machine: small forwards gain nothing from threads
        yield


def crops(n=6, seed=0):
    rng = np.random.default_rng(seed)
    base = [rng.integers(0, 256, (112, 112, 3), dtype=np.uint8) for _ in range(n)]
    smooth = [cv2.GaussianBlur(c, (9, 9), 3) for c in base]  # image-like rather than pure noise
    return smooth


def write_checkpoint(path, config, seed=0):
    """A FaceX checkpoint as the trainer writes it (format, version, resolved config, model state),
    with random weights and BatchNorm statistics measured on image-like inputs instead of training
    (with untouched statistics a random network maps every crop to almost the same embedding;
    facex_core.testing.calibrate_batchnorm's noise batches leave the crops too alike)."""
    exp = facex_core.Experiment(config)
    torch.manual_seed(seed)
    backbone = exp.build_backbone()
    for module in backbone.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the calibration batches
    backbone.train()
    with torch.no_grad():
        for k in range(2):
            images = [cv2.resize(c, backbone.input_size[::-1]) for c in crops(8, seed=100 + k)]
            backbone(torch.stack([facex_core.to_tensor(c) for c in images]))
    backbone.eval()
    resolved = exp.resolved()
    resolved.update({k: v for k, v in config.items() if k not in resolved})
    facex_core.save_backbone_checkpoint(path, resolved, backbone)
    return backbone


TINY = {"experiment": {"name": "tiny"}, "backbone": {"name": "mobilefacenet", "embedding_size": 32}}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(checkpoint, onnx file exported by `facex-core export onnx`, the backbone)."""
    root = tmp_path_factory.mktemp("tiny")
    backbone = write_checkpoint(root / "last.pt", TINY)
    run = subprocess.run([sys.executable, "-m", "facex_core", "export", "onnx", str(root / "last.pt"),
                          str(root / "tiny.onnx")], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "FACEX_NO_PROGRESS": "1"})
    assert run.returncode == 0, run.stdout + run.stderr
    return root / "last.pt", root / "tiny.onnx", backbone


def cosine(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_registration_is_light():
    code = ("import sys, facex_sdk_recognizer.plugin as p; p.facex_components(); "
            "print(','.join(m for m in ('torch', 'cv2', 'numpy', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
    assert {"facex", "onnx"} <= set(facex_core.registry().names("recognizer"))


def test_missing_files_are_clear(tmp_path):
    with pytest.raises(ValueError, match="checkpoint: required"):
        facex_core.build("recognizer", "facex")
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        facex_core.build("recognizer", "facex", checkpoint=str(tmp_path / "nope.pt"))
    with pytest.raises(ValueError, match="model: required"):
        facex_core.build("recognizer", "onnx")
    with pytest.raises(ValueError, match="flip"):
        facex_core.build("recognizer", "onnx", model="x.onnx", flip="concat")
    # declared ranges, checked before any file is opened
    for field, bad in (("batch_size", 0), ("threads", -1), ("input_size", (0, 112))):
        with pytest.raises(ValueError, match=f"{field}:? must be >= "):
            facex_core.build("recognizer", "onnx", model="x.onnx", **{field: bad})


def test_device_follows_the_core_rule(tiny):
    ckpt, _, _ = tiny
    auto = facex_core.build("recognizer", "facex", checkpoint=str(ckpt))
    assert auto.device == facex_core.resolve_device("auto")
    with pytest.raises(ValueError, match="device 'tpu:0'"):
        facex_core.build("recognizer", "facex", checkpoint=str(ckpt), device="tpu:0")


def test_facex_and_onnx_give_the_same_embeddings(tiny):
    ckpt, onnx_path, _ = tiny
    torch_rec = facex_core.build("recognizer", "facex", checkpoint=str(ckpt), device="cpu", batch_size=4)
    onnx_rec = facex_core.build("recognizer", "onnx", model=str(onnx_path), providers=["CPUExecutionProvider"],
                                threads=1, batch_size=4)
    assert torch_rec.input_size == onnx_rec.input_size == (112, 112) and torch_rec.embedding_size == 32
    batch = crops(6)
    batch += [cv2.cvtColor(batch[0], cv2.COLOR_BGR2GRAY), cv2.cvtColor(batch[1], cv2.COLOR_BGR2BGRA),
              cv2.resize(batch[2], (100, 120))]
    a, b = torch_rec.embed(batch), onnx_rec.embed(batch)
    assert a.shape == b.shape == (9, 32) and a.dtype == b.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1, atol=1e-5)
    assert cosine(a, b).min() >= 0.9999
    off_diagonal = (a[:6] @ a[:6].T)[~np.eye(6, dtype=bool)]
    assert off_diagonal.max() < 0.9  # the embeddings depend on the crop (measured ≤ 0.48), not a constant network
    assert torch_rec.embed([]).shape == (0, 32) and onnx_rec.embed([]).shape == (0, 32)


def test_flip_sum_is_mirror_invariant_and_none_is_the_plain_backbone(tiny):
    ckpt, onnx_path, backbone = tiny
    batch = crops(3, seed=1)
    mirrored = [np.ascontiguousarray(c[:, ::-1]) for c in batch]
    summed = facex_core.build("recognizer", "facex", checkpoint=str(ckpt), device="cpu")
    np.testing.assert_allclose(summed.embed(batch), summed.embed(mirrored), atol=1e-5)
    plain = facex_core.build("recognizer", "facex", checkpoint=str(ckpt), device="cpu", flip="none")
    with torch.no_grad():
        ref = backbone(torch.stack([facex_core.to_tensor(c) for c in batch])).numpy()
    np.testing.assert_allclose(plain.embed(batch), ref / np.linalg.norm(ref, axis=1, keepdims=True), atol=1e-5)
    onnx_plain = facex_core.build("recognizer", "onnx", model=str(onnx_path), flip="none",
                                  providers=["CPUExecutionProvider"], threads=1)
    assert cosine(onnx_plain.embed(batch), plain.embed(batch)).min() >= 0.9999
    assert cosine(plain.embed(batch), summed.embed(batch)).max() < 0.99999  # the flip did something


def test_checkpoint_with_an_uninstalled_head_still_loads(tmp_path):
    write_checkpoint(tmp_path / "ck.pt", TINY)
    ckpt = facex_core.load_checkpoint(tmp_path / "ck.pt")
    ckpt["config"]["head"] = {"name": "no_such_head_plugin", "num_classes": 4}
    facex_core.save_checkpoint(tmp_path / "ck2.pt", ckpt)
    with pytest.raises(facex_core.ConfigError, match="no_such_head_plugin"):
        facex_core.Experiment.from_checkpoint(tmp_path / "ck2.pt", full=True)
    assert facex_core.Experiment.from_checkpoint(tmp_path / "ck2.pt").backbone.name == TINY["backbone"]["name"]
    a = facex_core.build("recognizer", "facex", checkpoint=str(tmp_path / "ck.pt"), device="cpu").embed(crops(2))
    b = facex_core.build("recognizer", "facex", checkpoint=str(tmp_path / "ck2.pt"), device="cpu").embed(crops(2))
    np.testing.assert_array_equal(a, b)


def test_crop_eye_checkpoint_feeds_the_top_rows(tmp_path):
    cfg = {"experiment": {"name": "eye"}, "data": {"root": str(tmp_path), "crop_eye": True},
           "backbone": {"name": "mobilefacenet", "embedding_size": 16, "input_size": [60, 112]}}
    backbone = write_checkpoint(tmp_path / "eye.pt", cfg)
    rec = facex_core.build("recognizer", "facex", checkpoint=str(tmp_path / "eye.pt"), device="cpu", flip="none")
    batch = crops(2, seed=3)
    with torch.no_grad():
        ref = backbone(torch.stack([facex_core.to_tensor(c[:60].copy()) for c in batch])).numpy()
    np.testing.assert_allclose(rec.embed(batch), ref / np.linalg.norm(ref, axis=1, keepdims=True), atol=1e-5)


def test_pipeline_on_test1(tiny):
    weights = SDK_DATA / "retinaface_mobilenet0.25.npz"
    if not weights.is_file():
        pytest.skip("../shared/data/facexzoo-sdk (FaceX-Zoo SDK reference files) not available")
    names = facex_core.registry().names
    if "retinaface_mnet025" not in names("detector") or "arcface_5pt" not in names("aligner"):
        pytest.skip("facex-sdk-retinaface and facex-sdk-aligner must be installed for the pipeline test")
    ckpt, _, _ = tiny
    recognizer = facex_core.build("recognizer", "facex", checkpoint=str(ckpt), device="cpu")
    pipeline = facex_core.Pipeline(
        detector=facex_core.build("detector", "retinaface_mnet025", weights=str(weights), device="cpu"),
        aligner=facex_core.build("aligner", "arcface_5pt"),
        recognizer=recognizer)
    image = cv2.imread(str(SDK_DATA / "test1.jpg"))
    (faces,) = pipeline([image])
    assert len(faces) == 2
    for face in faces:
        assert face.crop.shape == (112, 112, 3) and face.crop.dtype == np.uint8
        assert face.embedding.shape == (32,) and abs(np.linalg.norm(face.embedding) - 1) < 1e-5
        assert face.score > 0.99 and face.landmarks.shape == (5, 2)
    np.testing.assert_allclose(np.stack([f.embedding for f in faces]),
                               recognizer.embed([f.crop for f in faces]), atol=1e-6)
    assert pipeline([np.full((100, 100, 3), 127, np.uint8)]) == [[]]


# -- input conventions: FaceX checkpoints' [data], FaceX exports' metadata, InsightFace's rule --------------
RGB = {**TINY, "experiment": {"name": "rgb"},
       "data": {"root": ".", "channels": "RGB", "mean": 127.5, "std": 127.5}}


def by_hand(backbone, batch, channels, mean, std):
    """normalise(backbone(x)) for the crops in the given convention, written from the formula."""
    arr = np.stack([c[:, :, ::-1] if channels == "RGB" else c for c in batch]).astype(np.float32)
    with torch.no_grad():
        out = backbone(torch.from_numpy(((arr - mean) / std).transpose(0, 3, 1, 2).copy())).numpy()
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def onnx_rec(path, **kwargs):
    return facex_core.build("recognizer", "onnx", model=str(path), flip="none", providers=["CPUExecutionProvider"],
                            threads=1, **kwargs)


@pytest.fixture(scope="module")
def rgb(tmp_path_factory):
    """An InsightFace-convention checkpoint (RGB, (x - 127.5) / 127.5) and its export with the metadata."""
    root = tmp_path_factory.mktemp("rgb")
    backbone = write_checkpoint(root / "rgb.pt", RGB)
    exp = facex_core.Experiment.from_checkpoint(root / "rgb.pt")
    facex_core.export_onnx(backbone, root / "rgb.onnx", preprocess=facex_core.preprocess_of(exp.data))
    return root / "rgb.pt", root / "rgb.onnx", backbone


def test_both_recognizers_feed_a_checkpoints_own_input_convention(rgb):
    ckpt, onnx_path, backbone = rgb
    batch = crops(4, seed=5)
    expected = by_hand(backbone, batch, "RGB", 127.5, 127.5)
    facex_rec = facex_core.build("recognizer", "facex", checkpoint=str(ckpt), device="cpu", flip="none")
    np.testing.assert_allclose(facex_rec.embed(batch), expected, atol=1e-5)
    rec = onnx_rec(onnx_path)
    assert rec.convention == {"channels": "RGB", "mean": 127.5, "std": 127.5, "crop_eye": False}
    assert set(rec.convention_source.values()) == {"FaceX export metadata"}
    np.testing.assert_allclose(rec.embed(batch), expected, atol=1e-5)
    bgr = by_hand(backbone, batch, "BGR", 127.5, 128.0)  # FaceX-Zoo's convention would give other embeddings
    assert cosine(bgr, expected).min() < 0.999


def insightface_like(src, dst, normalise_inside):
    """The ONNX export as InsightFace ships models: input ``data``, no FaceX metadata; with
    ``normalise_inside``, MXNet-style first nodes ``_minusscalar0`` (− 127.5) and ``_mulscalar0`` (× 1/128)."""
    import onnx
    from onnx import TensorProto, helper

    proto = onnx.load(src)
    del proto.metadata_props[:]
    old = proto.graph.input[0].name
    proto.graph.input[0].name = "data"
    if normalise_inside:
        proto.graph.initializer.extend([helper.make_tensor("c_mean", TensorProto.FLOAT, [], [127.5]),
                                        helper.make_tensor("c_scale", TensorProto.FLOAT, [], [1 / 128])])
        first = [helper.make_node("Sub", ["data", "c_mean"], ["centred"], name="_minusscalar0"),
                 helper.make_node("Mul", ["centred", "c_scale"], [old], name="_mulscalar0")]
        nodes = first + list(proto.graph.node)
        del proto.graph.node[:]
        proto.graph.node.extend(nodes)
    else:
        for node in proto.graph.node:
            node.input[:] = ["data" if i == old else i for i in node.input]
    onnx.save(proto, dst)


def test_onnx_recognizer_follows_insightfaces_rule_for_other_models(rgb, tmp_path):
    _, onnx_path, backbone = rgb
    batch = crops(4, seed=6)
    insightface_like(onnx_path, tmp_path / "w600k_like.onnx", normalise_inside=False)
    rec = onnx_rec(tmp_path / "w600k_like.onnx")
    assert rec.convention == {"channels": "RGB", "mean": 127.5, "std": 127.5, "crop_eye": False}
    np.testing.assert_allclose(rec.embed(batch), by_hand(backbone, batch, "RGB", 127.5, 127.5), atol=1e-5)
    # an MXNet-converted model normalises itself: it is fed raw RGB pixels (mean 0, std 1)
    insightface_like(onnx_path, tmp_path / "mxnet_like.onnx", normalise_inside=True)
    rec = onnx_rec(tmp_path / "mxnet_like.onnx")
    assert (rec.convention["channels"], rec.convention["mean"], rec.convention["std"]) == ("RGB", 0.0, 1.0)
    np.testing.assert_allclose(rec.embed(batch), by_hand(backbone, batch, "RGB", 127.5, 128.0), atol=1e-5)


def test_config_settings_override_the_recognised_convention(tiny, tmp_path):
    ckpt, onnx_path, backbone = tiny  # FaceX-Zoo's BGR, (x - 127.5) / 128
    insightface_like(onnx_path, tmp_path / "renamed.onnx", normalise_inside=False)
    batch = crops(3, seed=7)
    guessed = onnx_rec(tmp_path / "renamed.onnx")
    assert guessed.convention["channels"] == "RGB"  # InsightFace's rule cannot know: wrong for this model
    rec = onnx_rec(tmp_path / "renamed.onnx", channels="BGR", std=128.0)
    assert rec.convention == {"channels": "BGR", "mean": 127.5, "std": 128.0, "crop_eye": False}
    assert rec.convention_source["channels"] == rec.convention_source["std"] == "config"
    np.testing.assert_allclose(rec.embed(batch), by_hand(backbone, batch, "BGR", 127.5, 128.0), atol=1e-5)
    with pytest.raises(ValueError, match="channels"):
        onnx_rec(tmp_path / "renamed.onnx", channels="GRB")
