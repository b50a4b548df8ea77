"""AgeDB-30: the official protocol .mat (10 splits of a 2xN pair cell + labels 1/-1), its text
export, fold = split, metrics vs an independent loop, and errors."""
from __future__ import annotations

import numpy as np
import pytest
from lfw_reference import pair_scores, random_unit_features, reference_kfold
from matlab_v5_writer import MI_INT8, MI_UINT8, Cell, Doubles, Struct, write_mat

import facex_core
from facex_core.testing import check_protocol
from facex_protocol_lfw.agedb import read_agedb30
from facex_protocol_lfw.pairs import PairsFormatError

PER_SPLIT = 4  # the official file has 600; the layout is what matters here


def agedb_pairs(splits=10, per_split=PER_SPLIT):
    """(split, first name, second name, label 1/-1) with AgeDB-style 'id_Name_age_gender' names."""
    out = []
    for k in range(splits):
        for c in range(per_split):
            n = k * per_split + c
            if c % 2 == 0:  # same person, 30+ years apart
                out.append((k, f"{2 * n}_Person{n}_20_f", f"{2 * n + 1}_Person{n}_55_f", 1))
            else:
                out.append((k, f"{2 * n}_Person{n}_31_m", f"{2 * n + 1}_Other{n}_64_m", -1))
    return out


def image(name, age):
    return Struct((1, 1), ["name", "age"], [{"name": name, "age": Doubles(np.array([[age]]), MI_UINT8)}])


def write_agedb_mat(path, rows, **kw):
    """``splits``: a 10x1 cell of 1x1 structs {pairs: 2xN cell of image structs, label: 1xN}."""
    splits = []
    for k in sorted({r[0] for r in rows}):
        mine = [r for r in rows if r[0] == k]
        items = []  # column-major: first, second of pair 0, then of pair 1, ...
        for _, a, b, _ in mine:
            items += [image(a, float(a.split("_")[2])), image(b, float(b.split("_")[2]))]
        labels = Doubles(np.array([[float(r[3]) for r in mine]]), stored_as=MI_INT8)
        splits.append(Struct((1, 1), ["pairs", "label"],
                             [{"pairs": Cell((2, len(mine)), items), "label": labels}]))
    write_mat(path, {"splits": Cell((len(splits), 1), splits)}, **kw)
    return path


@pytest.mark.parametrize("compress, big_endian", [(True, False), (False, False), (False, True)])
def test_mat_pairs_labels_and_folds(tmp_path, compress, big_endian):
    rows = agedb_pairs()
    path = write_agedb_mat(tmp_path / "04_FINAL_protocol_30_years.mat", rows,
                           compress=compress, big_endian=big_endian)
    pairs, folds = read_agedb30(path)
    assert [(p.first, p.second, p.same) for p in pairs] == [(a + ".jpg", b + ".jpg", label == 1)
                                                            for _, a, b, label in rows]
    np.testing.assert_array_equal(folds, [r[0] for r in rows])


def test_text_export_reads_the_same(tmp_path):
    rows = agedb_pairs()
    mat_pairs, mat_folds = read_agedb30(write_agedb_mat(tmp_path / "p.mat", rows))
    text = tmp_path / "agedb_30_pairs.txt"
    text.write_text("".join(f"{a} {b} {label}\n" for _, a, b, label in rows))
    pairs, folds = read_agedb30(text)
    assert pairs == mat_pairs
    np.testing.assert_array_equal(folds, mat_folds)


def test_contract_and_metrics_match_independent_loop(tmp_path):
    rows = agedb_pairs()
    path = write_agedb_mat(tmp_path / "p.mat", rows, compress=True)
    proto = facex_core.build("protocol", "agedb30", pairs_file=str(path), image_root=str(tmp_path))
    check_protocol(proto)
    features = random_unit_features(proto.images(), np.random.default_rng(2),
                                    identity=lambda n: n.split("_")[1])
    expected_pairs = [(a + ".jpg", b + ".jpg", label == 1) for _, a, b, label in rows]
    expected, thresholds = reference_kfold(pair_scores(expected_pairs, features),
                                           [p[2] for p in expected_pairs], [r[0] for r in rows], "exact")
    result = proto.evaluate(features)
    assert result.details["fold_accuracies"] == pytest.approx(expected, abs=1e-12)
    assert result.details["fold_thresholds"] == pytest.approx(thresholds, abs=1e-12)


def test_mat_errors_name_the_file(tmp_path):
    path = tmp_path / "p.mat"
    write_mat(path, {"other": "x"})
    with pytest.raises(PairsFormatError, match=rf"{path}: no variable 'splits' \(found: other\)"):
        read_agedb30(path)
    rows = agedb_pairs()
    rows[5] = (*rows[5][:3], 2)
    write_agedb_mat(path, rows)
    with pytest.raises(PairsFormatError, match=rf"{path}: split 2, pair 2: label must be 1 or -1"):
        read_agedb30(path)


def test_text_errors_name_file_and_line(tmp_path):
    path = tmp_path / "pairs.txt"
    path.write_text("a b 1\nc d same\n")
    with pytest.raises(PairsFormatError, match=rf"{path}:2: expected 'name1 name2 label'"):
        read_agedb30(path)
    path.write_text("a b 1\n" * 7)
    with pytest.raises(PairsFormatError, match="7 pairs cannot form 10 equal folds"):
        read_agedb30(path)
    with pytest.raises(FileNotFoundError, match="nope.mat"):
        read_agedb30(tmp_path / "nope.mat")
