"""CPLFW and CALFW: consecutive 'image label' lines, exactly 6,000 pairs, folds rebuilt from the
first 3,000 (positive) and last 3,000 (negative) pairs; metrics vs an independent loop."""
from __future__ import annotations

import numpy as np
import pytest
from lfw_reference import pair_scores, random_unit_features, reference_kfold

import facex_core
from facex_core.testing import check_protocol
from facex_protocol_lfw.pairs import PairsFormatError, read_cross_lfw_pairs


def cross_lfw_lines(calfw=False):
    """The official layout: 3,000 positive pairs, then 3,000 negative pairs, two lines each.

    CPLFW labels are 1/0 on both lines; CALFW marks a positive pair with another non-zero number.
    Pair p uses images ``S<p>_1.jpg`` / ``S<p>_2.jpg`` (same person) or ``A<p>_1`` / ``B<p>_1``.
    """
    lines = []
    for p in range(6000):
        if p < 3000:
            label = str(1000 + p) if calfw else "1"
            lines += [f"S{p}_1.jpg {label}", f"S{p}_2.jpg {label}"]
        else:
            lines += [f"A{p}_1.jpg 0", f"B{p}_1.jpg 0"]
    return lines


def write(tmp_path, lines, name="pairs_CPLFW.txt"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def file_pair_of(position):
    """File pair index at evaluation position ``position``, derived independently: position
    600k..600k+299 holds positives 300k.., 600k+300.. holds negatives 3000+300k..."""
    k, r = divmod(position, 600)
    return 300 * k + r if r < 300 else 3000 + 300 * k + (r - 300)


@pytest.mark.parametrize("calfw", [False, True])
def test_folds_rebuilt_from_positive_and_negative_halves(tmp_path, calfw):
    pairs = read_cross_lfw_pairs(write(tmp_path, cross_lfw_lines(calfw)), nonzero_is_same=calfw)
    assert len(pairs) == 6000
    for position in (0, 299, 300, 599, 600, 1234, 5999):
        p = file_pair_of(position)
        expected = (f"S{p}_1.jpg", f"S{p}_2.jpg", True) if p < 3000 else (f"A{p}_1.jpg", f"B{p}_1.jpg", False)
        assert pairs[position] == expected
    labels = np.array([pair.same for pair in pairs]).reshape(10, 600)
    assert labels[:, :300].all() and not labels[:, 300:].any()


def test_cplfw_rejects_calfw_style_labels_and_calfw_accepts_them(tmp_path):
    path = write(tmp_path, cross_lfw_lines(calfw=True))
    with pytest.raises(PairsFormatError, match=rf"{path}:1: label must be 0 or 1, got 1000"):
        read_cross_lfw_pairs(path)
    assert read_cross_lfw_pairs(path, nonzero_is_same=True)[0].same


@pytest.mark.parametrize("lines, message", [
    (cross_lfw_lines()[:-2], "expected exactly 6000 pairs"),
    (cross_lfw_lines()[:-1], r":11999: the last pair has only one line"),
    (cross_lfw_lines()[:4] + ["S9_1.jpg 1 extra"] + cross_lfw_lines()[5:], r":5: expected 2 fields"),
    (cross_lfw_lines()[:6] + ["S9_1.jpg yes"] + cross_lfw_lines()[7:], r":7: label 'yes' is not an integer"),
])
def test_format_errors_name_the_file(tmp_path, lines, message):
    path = write(tmp_path, lines)
    with pytest.raises(PairsFormatError, match=message) as info:
        read_cross_lfw_pairs(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("name, rule", [("cplfw", "insightface"), ("calfw", "facexzoo")])
def test_contract_and_metrics_match_independent_loop(tmp_path, name, rule):
    lines = cross_lfw_lines(calfw=name == "calfw")
    path = write(tmp_path, lines, f"pairs_{name.upper()}.txt")
    proto = facex_core.build("protocol", name, pairs_file=str(path), image_root=str(tmp_path),
                             threshold_rule=rule)
    check_protocol(proto)
    assert len(proto.images()) == 12000
    # Same-person images share a centre: S<p>_1 / S<p>_2 -> "S<p>", others are their own identity.
    features = random_unit_features(proto.images(), np.random.default_rng(3), noise=1.3,
                                    identity=lambda n: n.rsplit("_", 1)[0] if n[0] == "S" else n)
    # Expected: scores per file pair straight from the lines, then put in evaluation order.
    file_pairs = [(lines[2 * p].split()[0], lines[2 * p + 1].split()[0], p < 3000) for p in range(6000)]
    order = [file_pair_of(i) for i in range(6000)]
    scores = pair_scores([file_pairs[p] for p in order], features)
    labels = [file_pairs[p][2] for p in order]
    expected, thresholds = reference_kfold(scores, labels, np.arange(6000) // 600, rule)
    result = proto.evaluate(features)
    assert result.details["fold_accuracies"] == pytest.approx(expected, abs=1e-12)
    assert result.details["fold_thresholds"] == pytest.approx(thresholds, abs=1e-12)
    assert result.details["n_positive"] == 3000
