"""LFW: pairs parsing, image list, fold accuracy against an independent loop, errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
from lfw_reference import reference_kfold

import facex_core
from facex_core.testing import check_protocol
from facex_protocol_lfw.pairs import PairsFormatError, lfw_pairs
from facex_protocol_lfw.plugin import LFWConfig
from facex_protocol_lfw.protocol import LFWProtocol

# Real LFW layout: "folds<TAB>pairs-per-class" header, then per fold the positives
# ("name i j") followed by the negatives ("name1 i name2 j").
SMALL_PAIRS = (
    "2\t2\n"
    "Abel_Pacheco\t1\t4\n"
    "Akhmed_Zakayev\t1\t3\n"
    "Abdel_Madi_Shabneh\t1\tDean_Barker\t1\n"
    "Abdel_Madi_Shabneh\t1\tGiancarlo_Fisichella\t1\n"
    "Zico\t1\t2\n"
    "Abel_Pacheco\t2\t4\n"
    "Abdul_Rahman\t1\tPhilip_Murtaugh\t1\n"
    "Zico\t3\tZulfiqar_Ahmed\t12\n"
)


def write(tmp_path, text, name="pairs.txt"):
    path = tmp_path / name
    path.write_text(text)
    return path


def make_protocol(tmp_path, text=SMALL_PAIRS, **overrides):
    fields = dict(pairs_file=str(write(tmp_path, text)), image_root=str(tmp_path / "crops"), folds=2)
    fields.update(overrides)
    return LFWProtocol(LFWConfig(**fields))


def read_pairs(tmp_path, text):
    """The pairs the protocol reads from ``text`` (through facex_core.read_lfw_pairs)."""
    return lfw_pairs(write(tmp_path, text))[1]


# -- parser ----------------------------------------------------------------------------------------

def test_parser_reads_lfw_format_in_order(tmp_path):
    pairs = read_pairs(tmp_path, SMALL_PAIRS)
    assert len(pairs) == 8
    assert pairs[0] == ("Abel_Pacheco/Abel_Pacheco_0001.jpg", "Abel_Pacheco/Abel_Pacheco_0004.jpg", True)
    assert pairs[2] == ("Abdel_Madi_Shabneh/Abdel_Madi_Shabneh_0001.jpg",
                        "Dean_Barker/Dean_Barker_0001.jpg", False)
    assert pairs[7].second == "Zulfiqar_Ahmed/Zulfiqar_Ahmed_0012.jpg"
    assert [p.same for p in pairs] == [True, True, False, False, True, True, False, False]


def test_parser_accepts_spaces_and_blank_lines(tmp_path):
    text = "1 1\nZico 1 2\n\nZico  3   Abel_Pacheco 1\n\n"
    pairs = read_pairs(tmp_path, text)
    assert [p.same for p in pairs] == [True, False]


@pytest.mark.parametrize("bad_line, reason", [
    ("Zico\t1\n", r"expected 'name i j' or 'name1 i name2 j', got 'Zico\\t1'"),
    ("Zico\t1\tAbel_Pacheco\t1\textra\n", r"expected 'name i j' or 'name1 i name2 j', got .*extra"),
    ("Zico\tone\t2\n", "integers"),
])
def test_parser_error_names_file_and_line(tmp_path, bad_line, reason):
    text = "1\t1\nZico\t1\t2\n" + bad_line
    with pytest.raises(PairsFormatError, match=reason) as info:
        read_pairs(tmp_path, text)
    assert f"{tmp_path / 'pairs.txt'}:3:" in str(info.value)


def test_parser_missing_file(tmp_path):
    proto = LFWProtocol(LFWConfig(pairs_file=str(tmp_path / "nope.txt"), image_root="r"))
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        proto.images()


# -- protocol --------------------------------------------------------------------------------------

def test_images_sorted_unique_and_root(tmp_path):
    proto = make_protocol(tmp_path)
    # 16 slots; Abel_Pacheco_0004 and Abdel_Madi_Shabneh_0001 appear twice.
    assert proto.images() == [
        "Abdel_Madi_Shabneh/Abdel_Madi_Shabneh_0001.jpg",
        "Abdul_Rahman/Abdul_Rahman_0001.jpg",
        "Abel_Pacheco/Abel_Pacheco_0001.jpg",
        "Abel_Pacheco/Abel_Pacheco_0002.jpg",
        "Abel_Pacheco/Abel_Pacheco_0004.jpg",
        "Akhmed_Zakayev/Akhmed_Zakayev_0001.jpg",
        "Akhmed_Zakayev/Akhmed_Zakayev_0003.jpg",
        "Dean_Barker/Dean_Barker_0001.jpg",
        "Giancarlo_Fisichella/Giancarlo_Fisichella_0001.jpg",
        "Philip_Murtaugh/Philip_Murtaugh_0001.jpg",
        "Zico/Zico_0001.jpg",
        "Zico/Zico_0002.jpg",
        "Zico/Zico_0003.jpg",
        "Zulfiqar_Ahmed/Zulfiqar_Ahmed_0012.jpg",
    ]
    assert proto.image_root == tmp_path / "crops"


def unit(angle):
    return np.array([math.cos(angle), math.sin(angle)])


def test_accuracy_on_hand_made_features(tmp_path):
    # Every image gets its own 2-D unit vector; the first image of pair k sits at angle 0 and the
    # second at angle acos(score_k), so each pair's dot product is exactly the score we choose.
    # 2 folds x 4 pairs (pos, pos, neg, neg):
    #   fold 0 scores 0.9 0.6 | 0.5 0.25     fold 1 scores 0.8 0.3 | 0.5 0.1
    # Test fold 0, trained on fold 1 (0.1n 0.3p 0.5n 0.8p): cuts 0.2 and 0.65 both get 3/4; the
    #   smaller, 0.2, is kept -> fold 0: 0.5 and 0.25 negatives are accepted -> 2/4.
    # Test fold 1, trained on fold 0 (0.25n 0.5n 0.6p 0.9p): 0.55 separates perfectly ->
    #   fold 1: the 0.3 positive is rejected -> 3/4.  Mean accuracy 0.625.
    scores = [0.9, 0.6, 0.5, 0.25, 0.8, 0.3, 0.5, 0.1]
    lines = ["2\t2"]
    features = {}
    for k, s in enumerate(scores):
        same = k % 4 < 2
        a, b = f"P{k}a", (f"P{k}a" if same else f"P{k}b")
        lines.append(f"{a}\t1\t2" if same else f"{a}\t1\t{b}\t2")
        features[f"{a}/{a}_0001.jpg"] = unit(0.0)
        features[f"{b}/{b}_0002.jpg"] = unit(math.acos(s))
    proto = make_protocol(tmp_path, "\n".join(lines) + "\n")
    np.testing.assert_allclose(proto.scores(features), scores)
    result = proto.evaluate(features)
    assert result.primary == "accuracy"
    assert result.metrics["accuracy"] == pytest.approx(0.625)
    assert result.details["fold_accuracies"] == [0.5, 0.75]
    np.testing.assert_allclose(result.details["fold_thresholds"], [0.2, 0.55])
    assert result.metrics["accuracy_stderr"] == pytest.approx(0.125)


@pytest.mark.parametrize("rule", ["exact", "facexzoo", "insightface"])
def test_ten_fold_accuracy_matches_independent_loop(tmp_path, rule):
    # A 10-fold file in LFW's layout (10 blocks of 6 positives + 6 negatives) with random,
    # L2-normalised 8-D features shared between pairs, as in the real protocol.
    rng = np.random.default_rng(7)
    people = [f"Person_{i:02d}" for i in range(30)]
    lines, labels = ["10\t6"], []
    for _fold in range(10):
        for _ in range(6):
            name = people[rng.integers(30)]
            i, j = rng.choice(np.arange(1, 5), size=2, replace=False)
            lines.append(f"{name}\t{i}\t{j}")
            labels.append(True)
        for _ in range(6):
            a, b = rng.choice(30, size=2, replace=False)
            lines.append(f"{people[a]}\t{rng.integers(1, 5)}\t{people[b]}\t{rng.integers(1, 5)}")
            labels.append(False)
    proto = make_protocol(tmp_path, "\n".join(lines) + "\n", folds=10, threshold_rule=rule)
    identity = {p: rng.normal(size=8) for p in people}
    features = {}
    for name in proto.images():
        v = identity[name.split("/")[0]] + rng.normal(scale=1.2, size=8)
        features[name] = v / np.linalg.norm(v)

    scores = []
    for line in lines[1:]:
        f = line.split("\t")
        a = f"{f[0]}/{f[0]}_{int(f[1]):04d}.jpg"
        b = f"{f[0]}/{f[0]}_{int(f[2]):04d}.jpg" if len(f) == 3 else f"{f[2]}/{f[2]}_{int(f[3]):04d}.jpg"
        scores.append(sum(float(x) * float(y) for x, y in zip(features[a], features[b])))
    expected_folds, expected_thresholds = reference_kfold(scores, labels, np.arange(120) // 12, rule)
    expected_mean = sum(expected_folds) / 10

    result = proto.evaluate(features)
    assert result.details["n_pairs"] == 120
    assert result.details["fold_accuracies"] == pytest.approx(expected_folds, abs=1e-12)
    assert result.details["fold_thresholds"] == pytest.approx(expected_thresholds, abs=1e-12)
    assert result.details["threshold_unit"] == ("squared_l2" if rule == "insightface" else "cosine")
    assert result.metrics["accuracy"] == pytest.approx(expected_mean, abs=1e-12)
    std = float(np.std(expected_folds, ddof=1))
    assert result.metrics["accuracy_std"] == pytest.approx(std)
    assert result.metrics["accuracy_stderr"] == pytest.approx(std / math.sqrt(10))
    for key in ("auc", "eer", "tar@far=1e-3", "tar@far=1e-2", "tar@far=1e-1"):
        assert 0.0 <= result.metrics[key] <= 1.0
    (roc,) = result.curves
    assert roc.name == "roc" and roc.log_x and roc.x_label == "FAR" and roc.y_label == "TAR"
    assert (roc.x[0], roc.y[0], roc.x[-1], roc.y[-1]) == (0.0, 0.0, 1.0, 1.0)


def test_missing_feature_names_the_image(tmp_path):
    proto = make_protocol(tmp_path)
    features = {name: unit(0.3) for name in proto.images()}
    del features["Zico/Zico_0003.jpg"]
    with pytest.raises(KeyError, match="Zico/Zico_0003.jpg"):
        proto.evaluate(features)


def test_fold_setup_errors(tmp_path):
    features = {name: unit(0.1) for name in make_protocol(tmp_path).images()}
    no_header = SMALL_PAIRS.split("\n", 1)[1]
    with pytest.raises(ValueError, match="8 pairs cannot be split into 3 folds"):
        make_protocol(tmp_path, no_header, folds=3).evaluate(features)
    with pytest.raises(ValueError, match="pairs_per_fold = 3"):
        make_protocol(tmp_path, no_header, pairs_per_fold=3).evaluate(features)
    np.testing.assert_array_equal(make_protocol(tmp_path, no_header, pairs_per_fold=4).fold_ids(),
                                  [0, 0, 0, 0, 1, 1, 1, 1])
    # with the header ('2 2'), a config that disagrees with it names both
    with pytest.raises(ValueError, match=r"pairs.txt: the header '2 2' announces 2 fold\(s\) of 4 pairs, "
                                         r"but the config sets folds = 3"):
        make_protocol(tmp_path, folds=3).evaluate(features)
    with pytest.raises(ValueError, match=r"header '2 2' .*but the config sets pairs_per_fold = 3"):
        make_protocol(tmp_path, pairs_per_fold=3).evaluate(features)
    np.testing.assert_array_equal(make_protocol(tmp_path, pairs_per_fold=4).fold_ids(),
                                  [0, 0, 0, 0, 1, 1, 1, 1])


def test_folds_come_from_the_header(tmp_path):
    # '2 1': 2 folds of 1 same + 1 different pair. The default config (folds unset) used to split
    # these 4 pairs into 10 folds and fail.
    text = "2\t1\nZico\t1\t2\nZico\t1\tAbel_Pacheco\t1\nZico\t2\t3\nZico\t3\tAbel_Pacheco\t2\n"
    proto = LFWProtocol(LFWConfig(pairs_file=str(write(tmp_path, text)), image_root="crops"))
    np.testing.assert_array_equal(proto.fold_ids(), [0, 0, 1, 1])
    features = {name: unit(0.1 * k) for k, name in enumerate(proto.images())}
    assert len(proto.evaluate(features).details["fold_accuracies"]) == 2
    # a file without a header keeps the config's folds (10 when unset)
    with pytest.raises(ValueError, match="4 pairs cannot be split into 10 folds"):
        make_protocol(tmp_path, text.split("\n", 1)[1], folds=None).fold_ids()
    # pairsDevTrain.txt-style single-fold header: a clear error, not a failed evaluation
    with pytest.raises(ValueError, match="announces 1 fold.*needs at least 2 folds"):
        make_protocol(tmp_path, "2\n" + text.split("\n", 1)[1], folds=None).fold_ids()


def test_config_validation():
    with pytest.raises(ValueError, match="threshold_rule"):
        LFWConfig(pairs_file="p", image_root="r", threshold_rule="median")
    config = LFWConfig(pairs_file="p", image_root="r", threshold_rule="insightface")
    assert config.threshold_rule == "insightface"
    with pytest.raises(ValueError, match="folds must be >= 2, got 1"):
        LFWConfig(pairs_file="p", image_root="r", folds=1)
    with pytest.raises(ValueError, match="pairs_per_fold must be >= 0, got -1"):
        LFWConfig(pairs_file="p", image_root="r", pairs_per_fold=-1)
    assert LFWConfig(pairs_file="p", image_root="r").folds is None  # the header's, else 10
    with pytest.raises(TypeError):
        LFWConfig(image_root="r")  # pairs_file is required


def test_contract(tmp_path):
    proto = facex_core.build("protocol", "lfw", pairs_file=str(write(tmp_path, SMALL_PAIRS)),
                             image_root=str(tmp_path / "crops"), folds=2)
    check_protocol(proto)
