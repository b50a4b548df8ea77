"""IJB protocols end to end on a small meta folder in the real formats; errors; contract."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import facex_core
from facex_core.testing import check_protocol
from facex_protocol_ijb import plugin
from facex_protocol_ijb.plugin import IJB1NConfig, IJBConfig
from facex_protocol_ijb.protocol import IJBB1NProtocol, IJBBProtocol, IJBC1NProtocol, IJBCProtocol

HEADER = "TEMPLATE_ID,SUBJECT_ID,FILENAME,SIGHTING_ID\n"


def write_meta(tmp_path, target="ijbc", seed=0):
    """A small IJB meta folder: 8 subjects, gallery templates 1..8 (subjects 0..7), probe templates
    101..124, each template 1-4 images over 1-3 media, pairs gallery x probe, 1:N lists with
    subjects 0-3 in the first gallery and 4-7 in the second (subject 7 absent from probes)."""
    rng = np.random.default_rng(seed)
    meta = tmp_path / "meta"
    meta.mkdir(exist_ok=True)
    subject = {t: t - 1 for t in range(1, 9)}
    subject.update({100 + i: int(rng.integers(0, 7)) for i in range(1, 25)})
    tid_mid, pts, rows = [], [], {t: [] for t in subject}
    image = 0
    for t in subject:
        for _ in range(int(rng.integers(1, 5))):
            image += 1
            name = f"{image}.jpg"
            tid_mid.append(f"{name} {t} {t * 10 + int(rng.integers(0, 3))}")
            lmk = " ".join(f"{v:.3f}" for v in rng.uniform(30, 90, size=10))
            pts.append(f"{name} {lmk} {rng.uniform(0.1, 1.0):.3f}")
            rows[t].append(f"{t},{subject[t]},img/{name},{image}")
    (meta / f"{target}_face_tid_mid.txt").write_text("\n".join(tid_mid) + "\n")
    (meta / f"{target}_name_5pts_score.txt").write_text("\n".join(pts) + "\n")
    pairs = [f"{g} {p} {int(subject[g] == subject[p])}" for g in range(1, 9) for p in range(101, 125)]
    (meta / f"{target}_template_pair_label.txt").write_text("\n".join(pairs) + "\n")
    g1, g2 = ("G1", "G2") if target == "ijbc" else ("S1", "S2")
    for name, members in ((f"gallery_{g1}", range(1, 5)), (f"gallery_{g2}", range(5, 9)),
                          ("probe_mixed", range(101, 125))):
        (meta / f"{target}_1N_{name}.csv").write_text(HEADER + "".join(r + "\n" for t in members for r in rows[t]))
    return dict(meta_dir=str(meta), image_root=str(tmp_path / "crops")), subject


def read_lines(path):
    return [line.split() for line in Path(path).read_text().splitlines()]


def loop_template_features(meta_dir, target, features, weighted):
    """insightface's pooling, per template and per media, straight from the text files."""
    scores = {f[0]: float(f[-1]) for f in read_lines(f"{meta_dir}/{target}_name_5pts_score.txt")}
    members = {}
    for name, tid, mid in read_lines(f"{meta_dir}/{target}_face_tid_mid.txt"):
        w = scores[name] if weighted else 1.0
        members.setdefault(int(tid), {}).setdefault(int(mid), []).append(features[name].astype(np.float64) * w)
    out = {}
    for t, by_media in members.items():
        total = sum(np.mean(v, axis=0) for v in by_media.values())
        out[t] = total / np.linalg.norm(total)
    return out


def unit_features(names, seed):
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((len(names), 8)).astype(np.float32)
    return dict(zip(names, v / np.linalg.norm(v, axis=1, keepdims=True)))


@pytest.mark.parametrize("cls, target, weighted", [(IJBCProtocol, "ijbc", True), (IJBBProtocol, "ijbb", False)])
def test_verification_matches_loops(tmp_path, cls, target, weighted):
    fields, _ = write_meta(tmp_path, target)
    proto = cls(IJBConfig(**fields, use_detector_score=weighted))
    features = unit_features(proto.images(), 1)
    scores, _ = proto.scores(features)
    templates = loop_template_features(fields["meta_dir"], target, features, weighted)
    pairs = read_lines(f"{fields['meta_dir']}/{target}_template_pair_label.txt")
    expected = [float(templates[int(a)] @ templates[int(b)]) for a, b, _ in pairs]
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)

    result = proto.evaluate(features)
    labels = [int(lab) for _, _, lab in pairs]
    neg = [s for s, y in zip(expected, labels) if not y]
    pos = [s for s, y in zip(expected, labels) if y]
    for name, far in [("tar@far=1e-2", 1e-2), ("tar@far=1e-1", 1e-1)]:
        best = max(sum(s > t for s in pos) / len(pos) for t in sorted(expected) + [min(expected) - 1]
                   if sum(s > t for s in neg) / len(neg) <= far)
        assert result.metrics[name] == pytest.approx(best)
    assert result.primary == "tar@far=1e-4"
    assert result.details["n_pairs"] == 8 * 24 and result.details["n_genuine"] == sum(labels)
    assert result.details["unresolved_fars"] == ["tar@far=1e-6", "tar@far=1e-5", "tar@far=1e-4", "tar@far=1e-3"]
    (roc,) = result.curves
    assert roc.name == "roc" and roc.log_x and roc.x[-1] == 1.0


def test_insightface_rule_changes_only_the_reading(tmp_path):
    fields, _ = write_meta(tmp_path)
    features = unit_features(IJBCProtocol(IJBConfig(**fields)).images(), 2)
    exact = IJBCProtocol(IJBConfig(**fields)).evaluate(features)
    nearest = IJBCProtocol(IJBConfig(**fields, tar_rule="insightface")).evaluate(features)
    assert exact.metrics["auc"] == nearest.metrics["auc"]
    assert nearest.details["tar_rule"] == "insightface"


@pytest.mark.parametrize("cls, target", [(IJBC1NProtocol, "ijbc"), (IJBB1NProtocol, "ijbb")])
def test_identification_matches_loops(tmp_path, cls, target):
    fields, subject = write_meta(tmp_path, target)
    proto = cls(IJB1NConfig(**fields, max_rank=3))
    features = unit_features(proto.images(), 3)
    result = proto.evaluate(features)
    templates = loop_template_features(fields["meta_dir"], target, features, weighted=True)

    ranks, tpirs = [], {}
    for gallery in (range(1, 5), range(5, 9)):
        by_subject = {subject[g]: g for g in gallery}
        nonmated, mated = [], []
        for p in range(101, 125):
            scores = {g: float(templates[p] @ templates[g]) for g in gallery}
            if subject[p] in by_subject:
                m = scores[by_subject[subject[p]]]
                rank = 1 + sum(v > m for v in scores.values())
                ranks.append(rank)
                mated.append((rank, m))
            else:
                nonmated.append(max(scores.values()))
        for name, rate in [("tpir@fpir=1e-1", 0.1)]:
            best = max(sum(r == 1 and m > t for r, m in mated) / len(mated)
                       for t in sorted(nonmated) + [min(nonmated) - 1]
                       if sum(v > t for v in nonmated) / len(nonmated) <= rate)
            tpirs.setdefault(name, []).append(best)
    for r in (1, 2, 3):
        assert result.metrics[f"rank-{r}"] == pytest.approx(np.mean([k <= r for k in ranks]))
    assert result.metrics["tpir@fpir=1e-1"] == pytest.approx(np.mean(tpirs["tpir@fpir=1e-1"]))
    assert sorted(result.details["galleries"]) == sorted(cls.galleries)
    assert [c.name for c in result.curves] == ["cmc"] + [f"tpir_fpir_{g.lower()}" for g in cls.galleries]


def test_images_are_only_those_of_used_templates(tmp_path):
    fields, _ = write_meta(tmp_path)
    meta = tmp_path / "meta"
    with open(meta / "ijbc_face_tid_mid.txt", "a") as fh:
        fh.write("9999.jpg 555 1\n")  # a template no pair uses
    with open(meta / "ijbc_name_5pts_score.txt", "a") as fh:
        fh.write("9999.jpg 1 2 3 4 5 6 7 8 9 10 0.9\n")
    images = IJBCProtocol(IJBConfig(**fields)).images()
    assert "9999.jpg" not in images and images == sorted(images)
    assert "9999.jpg" not in IJBC1NProtocol(IJB1NConfig(**fields)).images()


def test_errors_name_what_is_missing(tmp_path):
    fields, _ = write_meta(tmp_path)
    proto = IJBCProtocol(IJBConfig(**fields))
    features = unit_features(proto.images(), 4)
    del features["3.jpg"]
    with pytest.raises(KeyError, match="'3.jpg'"):
        proto.evaluate(features)

    meta = tmp_path / "meta"
    lines = (meta / "ijbc_name_5pts_score.txt").read_text().splitlines()
    (meta / "ijbc_name_5pts_score.txt").write_text("\n".join(lines[1:]) + "\n")
    features = unit_features(proto.images(), 4)
    with pytest.raises(ValueError, match="no detector score for image '1.jpg'"):
        IJBCProtocol(IJBConfig(**fields)).evaluate(features)
    IJBCProtocol(IJBConfig(**fields, use_detector_score=False)).evaluate(features)  # fine unweighted

    with open(meta / "ijbc_template_pair_label.txt", "a") as fh:
        fh.write("1 777 0\n")
    with pytest.raises(ValueError, match=r"template 777 \(entry 193\) has no image"):
        IJBCProtocol(IJBConfig(**fields)).images()

    (tmp_path / "img_list.txt").write_text("1.jpg\n")
    fields.update(image_list_file=str(tmp_path / "img_list.txt"))
    with pytest.raises(ValueError, match="img_list.txt: image '10.jpg'"):
        IJBC1NProtocol(IJB1NConfig(**fields)).images()


def test_gallery_needs_one_template_per_subject(tmp_path):
    fields, _ = write_meta(tmp_path)
    with open(tmp_path / "meta" / "ijbc_1N_gallery_G1.csv", "a") as fh:
        fh.write("101,0,img/x.jpg,0\n")  # a second gallery template for subject 0
    with pytest.raises(ValueError, match="subject 0 has 2 gallery templates"):
        IJBC1NProtocol(IJB1NConfig(**fields)).images()


def test_config_validation():
    with pytest.raises(ValueError, match="tar_rule"):
        IJBConfig(meta_dir="m", image_root="r", tar_rule="nearest")
    with pytest.raises(ValueError, match="max_rank"):
        IJB1NConfig(meta_dir="m", image_root="r", max_rank=0)


@pytest.mark.parametrize("name", ["ijbb", "ijbc", "ijbb_1n", "ijbc_1n"])
def test_contract(tmp_path, name):
    fields, _ = write_meta(tmp_path, name[:4])
    check_protocol(facex_core.build("protocol", name, **fields))


def test_registration_is_light_and_points_at_the_protocols():
    factories = {c.name: c.factory for c in plugin.facex_components()}
    assert factories == {
        "ijbb": "facex_protocol_ijb.protocol:IJBBProtocol",
        "ijbb_1n": "facex_protocol_ijb.protocol:IJBB1NProtocol",
        "ijbc": "facex_protocol_ijb.protocol:IJBCProtocol",
        "ijbc_1n": "facex_protocol_ijb.protocol:IJBC1NProtocol",
    }
    code = ("import sys, facex_protocol_ijb.plugin; "
            "print([m for m in ('numpy', 'torch', 'facex_protocol_ijb.protocol') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
