"""The bin protocol: contract, images unpacked once into a cache folder, InsightFace's folds, and
metrics against an independent transcription of InsightFace's evaluation."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys

import cv2
import numpy as np
import pytest

import facex_core
from facex_core.testing import check_protocol, installed
from facex_protocol_bin import cache, plugin
from facex_protocol_bin.binfile import BinFormatError
from facex_protocol_bin.protocol import kfold_ids

N_PAIRS = 40


def write_bin(path, n_pairs=N_PAIRS, seed=0, protocol=4):
    rng = np.random.default_rng(seed)
    bins = [cv2.imencode(".jpg", rng.integers(0, 256, (12, 12, 3), dtype=np.uint8))[1].tobytes()
            for _ in range(2 * n_pairs)]
    issame = [k % 3 != 0 for k in range(n_pairs)]
    path.write_bytes(pickle.dumps((bins, issame), protocol=protocol))
    return bins, issame


def build(tmp_path, **values):
    values.setdefault("path", str(tmp_path / "lfw.bin"))
    values.setdefault("cache_dir", str(tmp_path / "cache"))
    return facex_core.build("protocol", "bin", **values)


def test_contract_and_named_sets(tmp_path):
    write_bin(tmp_path / "lfw.bin")
    check_protocol(build(tmp_path))
    named = facex_core.build("protocol", "bin_lfw", data_dir=str(tmp_path))
    check_protocol(named)
    assert named.bin_path == tmp_path / "lfw.bin"
    assert named.image_root == tmp_path / "lfw_images"  # default: next to the .bin
    assert set(installed("protocol", distribution="facex-protocol-bin")) == {"bin", *plugin.STANDARD_SETS}


def test_images_are_unpacked_byte_for_byte_and_decodable(tmp_path):
    bins, _ = write_bin(tmp_path / "lfw.bin")
    proto = build(tmp_path)
    names = proto.images()
    assert names == [f"{i}.jpg" for i in range(2 * N_PAIRS)]
    assert proto.image_root == tmp_path / "cache" / "lfw"
    for i in (0, 1, 2 * N_PAIRS - 1):
        path = proto.image_root / names[i]
        assert path.read_bytes() == bins[i]
        assert cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR).shape == (12, 12, 3)


def test_unpacking_is_idempotent_and_follows_the_file(tmp_path, monkeypatch):
    write_bin(tmp_path / "lfw.bin")
    build(tmp_path).images()
    first = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cache" / "lfw").iterdir()}

    def must_not_read(path):
        raise AssertionError("the .bin was read again although the cache matches")

    monkeypatch.setattr(cache, "read_bin", must_not_read)
    again = build(tmp_path)
    assert again.images() == [f"{i}.jpg" for i in range(2 * N_PAIRS)]
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cache" / "lfw").iterdir()} == first
    monkeypatch.undo()
    before = again.fingerprint()

    # A different .bin under the same name is unpacked afresh (size/mtime change).
    _, issame = write_bin(tmp_path / "lfw.bin", n_pairs=20, seed=1)
    st = (tmp_path / "lfw.bin").stat()
    os.utime(tmp_path / "lfw.bin", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    fresh = build(tmp_path)
    assert len(fresh.images()) == 40 and fresh.labels.tolist() == issame
    # ... and the feature-cache key changes with it, although the image names do not.
    assert fresh.fingerprint() != before


def test_folds_are_insightface_kfold():
    # sklearn KFold(n_splits=k, shuffle=False): consecutive folds, the first n % k one larger.
    np.testing.assert_array_equal(np.bincount(kfold_ids(6000, 10)), [600] * 10)
    np.testing.assert_array_equal(np.bincount(kfold_ids(23, 10)), [3, 3, 3, 2, 2, 2, 2, 2, 2, 2])
    ids = kfold_ids(23, 10)
    assert (np.diff(ids) >= 0).all()
    with pytest.raises(ValueError, match="5 pairs cannot be split into 10 folds"):
        kfold_ids(5, 10)


def insightface_evaluate(embeddings, actual_issame, nrof_folds=10):
    """InsightFace's ``evaluate``/``calculate_roc`` written out: pairs are rows 0::2 and 1::2,
    squared L2 distance, unshuffled KFold, thresholds arange(0, 4, 0.01), "same" iff dist < t."""
    thresholds = np.arange(0, 4, 0.01)
    embeddings1, embeddings2 = embeddings[0::2], embeddings[1::2]
    dist = np.sum(np.square(np.subtract(embeddings1, embeddings2)), 1)
    n = len(actual_issame)
    sizes = [n // nrof_folds + (1 if i < n % nrof_folds else 0) for i in range(nrof_folds)]
    accuracy, start = [], 0
    for size in sizes:
        test_set = np.arange(start, start + size)
        train_set = np.setdiff1d(np.arange(n), test_set)
        start += size
        acc_train = np.zeros(len(thresholds))
        for i, threshold in enumerate(thresholds):
            predict = np.less(dist[train_set], threshold)
            acc_train[i] = float(np.sum(predict == actual_issame[train_set])) / train_set.size
        best = thresholds[np.argmax(acc_train)]
        predict = np.less(dist[test_set], best)
        accuracy.append(float(np.sum(predict == actual_issame[test_set])) / test_set.size)
    return np.array(accuracy)


@pytest.mark.parametrize("n_pairs", [40, 37])
def test_accuracy_matches_insightface_transcription(tmp_path, n_pairs):
    _, issame = write_bin(tmp_path / "lfw.bin", n_pairs=n_pairs, protocol=2)
    proto = build(tmp_path)
    rng = np.random.default_rng(n_pairs)
    raw = rng.normal(size=(2 * n_pairs, 16))
    for k, same in enumerate(issame):  # same pairs share most of their direction
        if same:
            raw[2 * k + 1] = raw[2 * k] + rng.normal(scale=0.9, size=16)
    # What the engine hands over: flip-summed (already in `raw` here), L2-normalised features.
    embeddings = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    features = dict(zip(proto.images(), embeddings))
    expected = insightface_evaluate(embeddings, np.asarray(issame))
    result = proto.evaluate(features)
    assert result.details["threshold_rule"] == "insightface"
    np.testing.assert_array_equal(result.details["fold_accuracies"], expected)
    assert result.metrics["accuracy"] == pytest.approx(expected.mean(), abs=1e-12)
    assert result.details["accuracy_std_ddof0"] == pytest.approx(np.std(expected), abs=1e-12)
    assert 0.5 < result.metrics["accuracy"] < 1.0  # neither trivial nor perfect


def test_exact_rule_matches_a_plain_loop(tmp_path):
    _, issame = write_bin(tmp_path / "lfw.bin")
    proto = build(tmp_path, threshold_rule="exact")
    rng = np.random.default_rng(9)
    features = {}
    for name in proto.images():
        v = rng.normal(size=6)
        features[name] = v / np.linalg.norm(v)
    names = proto.images()
    scores = [float(np.dot(features[names[2 * k]], features[names[2 * k + 1]])) for k in range(N_PAIRS)]
    accs = []
    for f in range(10):
        train = [k for k in range(N_PAIRS) if k // 4 != f]
        values = sorted({scores[k] for k in train})
        cands = [values[0] - 1] + [(a + b) / 2 for a, b in zip(values, values[1:])] + [values[-1] + 1]
        best = max(cands, key=lambda t: sum((scores[k] > t) == issame[k] for k in train))
        accs.append(sum((scores[k] > best) == issame[k] for k in range(4 * f, 4 * f + 4)) / 4)
    assert proto.evaluate(features).details["fold_accuracies"] == pytest.approx(accs)


def test_errors(tmp_path):
    write_bin(tmp_path / "lfw.bin")
    proto = build(tmp_path)
    features = {name: np.eye(3)[0] for name in proto.images()[:-1]}
    with pytest.raises(KeyError, match=r"'79.jpg'.*lfw.bin"):
        proto.evaluate(features)
    (tmp_path / "odd.bin").write_bytes(pickle.dumps(([b"\xff\xd8\xffx", b"GIF89a"], [True]), protocol=4))
    with pytest.raises(BinFormatError, match=r"odd.bin: image 1 is neither JPEG nor PNG"):
        build(tmp_path, path=str(tmp_path / "odd.bin")).images()
    with pytest.raises(FileNotFoundError, match="nope.bin"):
        build(tmp_path, path=str(tmp_path / "nope.bin")).images()
    with pytest.raises(ValueError, match="threshold_rule:? must be one of insightface, exact, facexzoo"):
        build(tmp_path, threshold_rule="median")


def test_discovery_imports_no_heavy_module():
    code = ("import sys, facex_protocol_bin.plugin; "
            "heavy = [m for m in ('numpy', 'torch', 'pickle', 'facex_protocol_bin.protocol') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
