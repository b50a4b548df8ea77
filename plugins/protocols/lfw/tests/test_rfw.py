"""RFW: LFW's line format without a header, per race; image names per RFW; metrics vs a loop."""
from __future__ import annotations

import numpy as np
import pytest
from lfw_reference import pair_scores, random_unit_features, reference_kfold

import facex_core
from facex_core.testing import check_protocol
from facex_protocol_lfw.pairs import PairsFormatError, lfw_pairs

RACES = ("african", "asian", "caucasian", "indian")


def rfw_file(tmp_path, folds=10, per_class=2, seed=0):
    """An RFW-style pairs file: no header, tab-separated Freebase ids, LFW's numbering."""
    rng = np.random.default_rng(seed)
    ids = [f"m.0{c}{i:03d}" for c in "bcdfgh" for i in range(5)]
    lines = []
    for _ in range(folds):
        for _ in range(per_class):
            person = ids[rng.integers(len(ids))]
            i, j = rng.choice(np.arange(1, 6), size=2, replace=False)
            lines.append(f"{person}\t{i}\t{j}")
        for _ in range(per_class):
            a, b = rng.choice(len(ids), size=2, replace=False)
            lines.append(f"{ids[a]}\t{rng.integers(1, 6)}\t{ids[b]}\t{rng.integers(1, 6)}")
    path = tmp_path / "African_pairs.txt"
    path.write_text("\n".join(lines) + "\n")
    return path, lines


def test_first_line_is_a_pair_and_names_follow_rfw(tmp_path):
    path = tmp_path / "Asian_pairs.txt"
    path.write_text("m.0c7mh2\t1\t4\nm.0c7mh2\t2\tm.0bw0kv\t13\n")
    header, pairs = lfw_pairs(path)
    assert header is None
    assert pairs == [("m.0c7mh2/m.0c7mh2_0001.jpg", "m.0c7mh2/m.0c7mh2_0004.jpg", True),
                     ("m.0c7mh2/m.0c7mh2_0002.jpg", "m.0bw0kv/m.0bw0kv_0013.jpg", False)]


@pytest.mark.parametrize("race", RACES)
def test_contract_and_metrics_match_independent_loop(tmp_path, race):
    path, lines = rfw_file(tmp_path)
    proto = facex_core.build("protocol", f"rfw_{race}", pairs_file=str(path),
                             image_root=str(tmp_path / "data"))
    check_protocol(proto)
    assert len(proto.pairs) == 40 and proto.pairs[0].first.startswith(lines[0].split("\t")[0] + "/")
    features = random_unit_features(proto.images(), np.random.default_rng(1),
                                    identity=lambda n: n.split("/")[0])
    labels = [len(line.split("\t")) == 3 for line in lines]
    expected, _ = reference_kfold(pair_scores(proto.pairs, features), labels, np.arange(40) // 4, "exact")
    result = proto.evaluate(features)
    assert result.details["fold_accuracies"] == pytest.approx(expected, abs=1e-12)
    assert result.metrics["accuracy"] == pytest.approx(np.mean(expected), abs=1e-12)


def test_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "Indian_pairs.txt"
    path.write_text("m.01\t1\t2\nm.01\t1\n")
    proto = facex_core.build("protocol", "rfw_indian", pairs_file=str(path), image_root="x")
    with pytest.raises(PairsFormatError, match=rf"{path}:2: expected 'name i j' or 'name1 i name2 j'"):
        proto.images()


def test_missing_feature_names_the_image(tmp_path):
    path, _ = rfw_file(tmp_path)
    proto = facex_core.build("protocol", "rfw_caucasian", pairs_file=str(path), image_root="x")
    features = {name: np.eye(4)[0] for name in proto.images()[1:]}
    with pytest.raises(KeyError, match=proto.images()[0]):
        proto.evaluate(features)
