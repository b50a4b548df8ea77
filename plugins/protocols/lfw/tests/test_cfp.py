"""CFP-FP / CFP-FF: the official Protocol folder (Pair_list_F/P.txt, Split/FP|FF/01..10/same|diff.txt),
image paths relative to the dataset root, fold = split folder, metrics vs an independent loop."""
from __future__ import annotations

import numpy as np
import pytest
from lfw_reference import pair_scores, random_unit_features, reference_kfold

import facex_core
from facex_core.testing import check_protocol
from facex_protocol_lfw.cfp import read_cfp
from facex_protocol_lfw.pairs import PairsFormatError

N_PEOPLE = 12  # 5 frontal (01-05) + 2 profile (01-02) images each in this miniature


def frontal(i):
    return f"Data/Images/{i // 5 + 1:03d}/frontal/{i % 5 + 1:02d}.jpg"


def profile(i):
    return f"Data/Images/{i // 2 + 1:03d}/profile/{i % 2 + 1:02d}.jpg"


def write_cfp(root, folds=10, seed=0):
    """A Protocol folder in the official layout; returns {split: [(fold, i, j, same), ...]}."""
    proto = root / "Protocol"
    proto.mkdir(parents=True)
    (proto / "Pair_list_F.txt").write_text("".join(f"{i + 1} ../{frontal(i)}\n" for i in range(5 * N_PEOPLE)))
    (proto / "Pair_list_P.txt").write_text("".join(f"{i + 1} ../{profile(i)}\n" for i in range(2 * N_PEOPLE)))
    rng = np.random.default_rng(seed)
    written = {}
    for split, per_person in (("FP", 2), ("FF", 5)):
        rows = []
        for k in range(folds):
            d = proto / "Split" / split / f"{k + 1:02d}"
            d.mkdir(parents=True)
            same, diff = [], []
            def pick(person, per):  # 0-based index of a random image of `person`
                return per * int(person) + int(rng.integers(per))

            for _ in range(3):
                person = rng.integers(N_PEOPLE)
                same.append((pick(person, 5), pick(person, per_person)))
                a, b = rng.choice(N_PEOPLE, size=2, replace=False)
                diff.append((pick(a, 5), pick(b, per_person)))
            # indices in the files are 1-based
            (d / "same.txt").write_text("".join(f"{i + 1},{j + 1}\n" for i, j in same))
            (d / "diff.txt").write_text("".join(f"{i + 1},{j + 1}\n" for i, j in diff))
            rows += [(k, i, j, True) for i, j in same] + [(k, i, j, False) for i, j in diff]
        written[split] = rows
    return proto, written


@pytest.mark.parametrize("split", ["FP", "FF"])
def test_pairs_resolve_through_the_lists(tmp_path, split):
    proto, written = write_cfp(tmp_path)
    pairs, folds = read_cfp(proto, split)
    second = profile if split == "FP" else frontal
    assert [(p.first, p.second, p.same) for p in pairs] == [(frontal(i), second(j), same)
                                                            for _, i, j, same in written[split]]
    # Folder 10 sorts after 09 (numerically): fold ids follow the folder numbers.
    np.testing.assert_array_equal(folds, [r[0] for r in written[split]])


@pytest.mark.parametrize("name, split", [("cfp_fp", "FP"), ("cfp_ff", "FF")])
def test_contract_and_metrics_match_independent_loop(tmp_path, name, split):
    proto_dir, written = write_cfp(tmp_path)
    proto = facex_core.build("protocol", name, protocol_dir=str(proto_dir), image_root=str(tmp_path))
    check_protocol(proto)
    features = random_unit_features(proto.images(), np.random.default_rng(4),
                                    identity=lambda n: n.split("/")[2])
    second = profile if split == "FP" else frontal
    expected_pairs = [(frontal(i), second(j), same) for _, i, j, same in written[split]]
    expected, _ = reference_kfold(pair_scores(expected_pairs, features), [p[2] for p in expected_pairs],
                                  [r[0] for r in written[split]], "exact")
    result = proto.evaluate(features)
    assert result.details["fold_accuracies"] == pytest.approx(expected, abs=1e-12)
    assert all(p.startswith("Data/Images/") for p in proto.images())


def test_errors_name_file_and_line(tmp_path):
    proto, _ = write_cfp(tmp_path)
    same = proto / "Split" / "FP" / "03" / "same.txt"
    same.write_text("1,2\n1,999\n")
    with pytest.raises(PairsFormatError, match=rf"{same}:2: index 999 is not in Pair_list_P.txt"):
        read_cfp(proto, "FP")
    same.write_text("1;2\n")
    with pytest.raises(PairsFormatError, match=rf"{same}:1: expected 'i,j'"):
        read_cfp(proto, "FP")
    (proto / "Pair_list_F.txt").write_text("1 ../../elsewhere/x.jpg\n")
    with pytest.raises(PairsFormatError, match=r"Pair_list_F.txt:1: image path .* outside"):
        read_cfp(proto, "FF")


def test_missing_split_folder(tmp_path):
    proto, _ = write_cfp(tmp_path)
    with pytest.raises(ValueError, match="must be one of FP, FF"):
        read_cfp(proto, "PP")
    (proto / "Split" / "FF").rename(proto / "Split" / "gone")
    with pytest.raises(FileNotFoundError, match="CFP split folder not found"):
        read_cfp(proto, "FF")
