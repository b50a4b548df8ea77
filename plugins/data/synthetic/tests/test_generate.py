"""The synthetic face-identity generator: determinism, formats, identity signal, idempotence, resuming."""
from __future__ import annotations

import collections
import json
import os
from pathlib import Path

import attrs
import cv2
import numpy as np
import pytest

import facex_core
from facex_data_synthetic.generate import META_NAME, SyntheticDataError, generate
from facex_data_synthetic.identity import sample_identity, sample_nuisance
from facex_data_synthetic.plugin import SyntheticConfig, SyntheticDataConfig
from facex_data_synthetic.render import render_face


def _read_pairs(path: Path) -> tuple[list[str], list[list[str]]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[0].split("\t"), [line.split("\t") for line in lines[1:]]


# ---- determinism ------------------------------------------------------------------------------------

def test_same_seed_same_bytes_and_other_seed_differs(tiny, tiny_config, files, tmp_path: Path) -> None:
    out, _ = tiny
    again = tmp_path / "again"
    generate(tiny_config, again)
    assert files(out) == files(again)

    other = tmp_path / "other"
    generate(attrs.evolve(tiny_config, seed=1), other)
    a, b = files(out), files(other)
    jpgs = [k for k in a if k.endswith(".jpg")]
    assert jpgs and set(jpgs) <= set(b)
    assert all(a[k] != b[k] for k in jpgs)


def test_workers_match_serial_byte_for_byte(tiny, tiny_config, files, tmp_path: Path) -> None:
    out, _ = tiny
    par = tmp_path / "par"
    res = generate(tiny_config, par, workers=2)
    assert res["rendered"] == 36
    assert files(out) == files(par)


def test_sampling_and_rendering_are_deterministic() -> None:
    assert sample_identity(0, 3) == sample_identity(0, 3)
    assert sample_identity(0, 3) != sample_identity(0, 4)
    assert sample_identity(0, 3) != sample_identity(1, 3)
    assert sample_nuisance(0, 3, 1) == sample_nuisance(0, 3, 1)
    assert sample_nuisance(0, 3, 1) != sample_nuisance(0, 3, 2)
    assert sample_nuisance(0, 3, 1) != sample_nuisance(0, 4, 1)
    img = render_face(sample_identity(0, 3), sample_nuisance(0, 3, 1))
    assert img.shape == (112, 112, 3) and img.dtype == np.uint8
    assert np.array_equal(img, render_face(sample_identity(0, 3), sample_nuisance(0, 3, 1)))
    assert img.std() > 10  # not a blank image
    small = render_face(sample_identity(0, 3), sample_nuisance(0, 3, 1), size=64)
    assert small.shape == (64, 64, 3)


# ---- formats ----------------------------------------------------------------------------------------

def test_train_list_parses(tiny) -> None:
    out, res = tiny
    root = Path(res["train_root"])
    assert root == out / "train" / "images"
    lines = Path(res["train_list"]).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 18 == res["train_images"]
    samples = []
    for line in lines:
        rel, label = line.split(" ")
        samples.append((rel, int(label)))
        assert (root / rel).is_file()
    folders = sorted(p.name for p in root.iterdir() if p.is_dir())
    assert folders == [f"id_{i:05d}" for i in range(6)]
    assert sorted({lab for _, lab in samples}) == list(range(6)) == list(range(res["num_classes"]))
    for rel, lab in samples:
        assert rel.split("/")[0] == folders[lab]  # labels follow sorted folder order
    assert [rel for rel, _ in samples] == sorted(rel for rel, _ in samples)
    assert samples[:3] == [("id_00000/0000.jpg", 0), ("id_00000/0001.jpg", 0), ("id_00000/0002.jpg", 0)]
    assert facex_core.read_train_list(res["train_list"]) == samples  # the core's reader agrees
    img = cv2.imread(str(root / samples[0][0]))
    assert img is not None and img.shape == (112, 112, 3)


def test_pairs_file_follows_lfw_format(tiny) -> None:
    out, res = tiny
    header, rows = _read_pairs(Path(res["pairs_file"]))
    assert header == ["3", "2"]
    half = 2
    assert len(rows) == 3 * 2 * half == res["pairs"]
    listed = Path(res["image_list"]).read_text(encoding="utf-8").splitlines()
    assert len(listed) == len(set(listed)) == 18 == res["test_images"]
    root = Path(res["test_root"])
    on_disk = sorted(str(p.relative_to(root)) for p in root.rglob("*.jpg"))
    assert sorted(listed) == on_disk
    assert all(p.split("/")[1] == f"{p.split('/')[0]}_{p[-8:-4]}.jpg" for p in listed)

    def rel(name: str, i: str) -> str:
        assert i == str(int(i)) and int(i) >= 1  # unpadded, 1-based
        return f"{name}/{name}_{int(i):04d}.jpg"

    fold_of: dict[str, int] = {}
    seen: set[frozenset] = set()
    for f in range(3):
        block = rows[f * 2 * half:(f + 1) * 2 * half]
        assert all(len(row) == 3 for row in block[:half])  # positives first
        assert all(len(row) == 4 for row in block[half:])  # then negatives
        for row in block:
            if len(row) == 3:
                name, i, j = row
                assert i != j
                refs, names = [rel(name, i), rel(name, j)], [name]
            else:
                assert len(row) == 4
                n1, i, n2, j = row
                assert n1 != n2
                refs, names = [rel(n1, i), rel(n2, j)], [n1, n2]
            for r in refs:
                assert r in listed and (root / r).is_file()
            for n in names:
                assert fold_of.setdefault(n, f) == f  # an identity lies in one fold only
            key = frozenset(refs)
            assert key not in seen  # no duplicate pairs
            seen.add(key)
    pairs_header, pairs = facex_core.read_lfw_pairs(res["pairs_file"])  # the core's reader agrees
    assert pairs_header == (3, 2) and [p.first for p in pairs[:1]] == [rel(*rows[0][:2])]


def test_meta_and_return_value(tiny, tiny_config) -> None:
    out, res = tiny
    meta = json.loads((out / META_NAME).read_text(encoding="utf-8"))
    assert meta["config"] == attrs.asdict(tiny_config)
    assert meta["counts"]["train_images"] == 18 and meta["counts"]["pairs"] == 12
    assert isinstance(meta["format_version"], int)
    for key in ("train_root", "train_list", "test_root", "pairs_file", "image_list"):
        assert Path(res[key]).exists()


def test_config_fields_are_documented_and_validated(tiny_config) -> None:
    for cls in (SyntheticConfig, SyntheticDataConfig):
        assert all(row["doc"] for row in facex_core.describe_fields(cls))
    with pytest.raises(ValueError, match="seed must be >= 0"):
        SyntheticConfig(seed=-1)
    with pytest.raises(facex_core.ConfigError, match="train_identities: expected an integer"):
        facex_core.structure_config(SyntheticConfig, {"train_identities": 2.5})
    with pytest.raises(SyntheticDataError, match="even"):
        generate(attrs.evolve(tiny_config, pairs_per_fold=5), "/nonexistent/never/written")
    with pytest.raises(SyntheticDataError, match="folds"):
        generate(attrs.evolve(tiny_config, test_identities=4), "/nonexistent/never/written")
    with pytest.raises(SyntheticDataError, match="positive"):
        generate(attrs.evolve(tiny_config, pairs_per_fold=40), "/nonexistent/never/written")


# ---- identity signal --------------------------------------------------------------------------------

def test_images_of_one_identity_are_closer_than_images_of_two() -> None:
    n_id, n_img = 10, 4
    feats, labels = [], []
    for i in range(n_id):
        ip = sample_identity(0, i)
        for k in range(n_img):
            img = render_face(ip, sample_nuisance(0, i, k))
            grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
            feats.append(cv2.resize(grey, (28, 28), interpolation=cv2.INTER_AREA).astype(np.float32).ravel())
            labels.append(i)
    x, y = np.stack(feats), np.asarray(labels)
    dist = np.linalg.norm(x[:, None] - x[None], axis=2)
    same = (y[:, None] == y[None]) & ~np.eye(len(y), dtype=bool)
    diff = y[:, None] != y[None]
    # Over seeds 0-9 the ratio below lies in 0.82-0.90 and 7-10 of 10 identities pass the per-identity
    # check: identity is encoded, yet nuisance keeps raw pixels far from a solved problem.
    assert dist[same].mean() < 0.95 * dist[diff].mean()
    closer = sum(dist[y == i][:, y == i][~np.eye(n_img, dtype=bool)].mean() < dist[y == i][:, y != i].mean()
                 for i in range(n_id))
    assert closer > n_id // 2  # most identities: own images nearer on average than other identities'


# ---- idempotence and resuming -----------------------------------------------------------------------

def test_second_call_rewrites_nothing(tiny_config, mtimes, tmp_path: Path) -> None:
    out = tmp_path / "d"
    generate(tiny_config, out)
    before = mtimes(out)
    calls: list[tuple[int, int]] = []
    res = generate(tiny_config, out, progress=lambda d, t: calls.append((d, t)))
    assert mtimes(out) == before
    assert res["rendered"] == 0
    assert calls == [(36, 36)]


def test_resume_renders_only_missing_images(tiny_config, files, mtimes, tmp_path: Path) -> None:
    out = tmp_path / "d"
    generate(tiny_config, out)
    full = files(out)
    before = mtimes(out)
    gone = ["train/images/id_00002/0001.jpg", "test/images/Synth_Person_0004/Synth_Person_0004_0003.jpg",
            "test/pairs.txt"]
    for rel in gone:
        (out / rel).unlink()
    stale = out / "train" / "images" / "id_00003" / ".0002.jpg.tmp-12345"
    stale.write_bytes(b"half a jpeg")  # what a killed run leaves behind (facex_core.atomic_output's name)
    calls: list[tuple[int, int]] = []
    res = generate(tiny_config, out, progress=lambda d, t: calls.append((d, t)))
    assert res["rendered"] == 2
    assert not stale.exists()
    assert files(out) == full
    after = mtimes(out)
    assert all(after[k] == v for k, v in before.items() if k not in gone)
    assert calls[0] == (34, 36) and calls[-1] == (36, 36)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_other_config_raises_unless_overwrite(tiny_config, files, tmp_path: Path) -> None:
    out = tmp_path / "d"
    generate(tiny_config, out)
    smaller = attrs.evolve(tiny_config, train_identities=4, seed=3)
    with pytest.raises(SyntheticDataError, match="train_identities: 6 there, 4 now") as info:
        generate(smaller, out)
    assert "overwrite=True" in str(info.value) and "\n" not in str(info.value)
    res = generate(smaller, out, overwrite=True)
    assert res["rendered"] == 4 * 3 + 18
    assert sorted(p.name for p in (out / "train" / "images").iterdir()) == [f"id_{i:05d}" for i in range(4)]
    fresh = tmp_path / "fresh"
    generate(smaller, fresh)
    assert files(out) == files(fresh)


def test_the_output_setting_is_not_part_of_the_recorded_config(tiny_config, tmp_path: Path) -> None:
    out = tmp_path / "d"
    generate(tiny_config, out)
    step = SyntheticDataConfig(**attrs.asdict(tiny_config), output=str(tmp_path / "elsewhere"))
    assert generate(step, out)["rendered"] == 0  # a moved folder is still the same data set


def test_foreign_folder_is_not_clobbered(tiny_config, tmp_path: Path) -> None:
    out = tmp_path / "d"
    (out / "train").mkdir(parents=True)
    (out / "train" / "mine.txt").write_text("not generated")
    with pytest.raises(SyntheticDataError, match=META_NAME):
        generate(tiny_config, out)
    assert (out / "train" / "mine.txt").exists()
    assert not os.path.exists(out / META_NAME)


def test_a_folder_being_written_is_refused(tiny_config, tmp_path: Path) -> None:
    out = tmp_path / "d"
    with facex_core.FolderLock(out, "test job"):
        with pytest.raises(facex_core.ConfigError, match="in use by"):
            generate(tiny_config, out)
    assert not (out / META_NAME).exists()


def test_shallow_option_draws_two_images_per_training_identity(tiny_config, tmp_path: Path) -> None:
    cfg = attrs.evolve(tiny_config, shallow=True, train_images_per_identity=7)
    res = generate(cfg, tmp_path / "shallow")
    lines = Path(res["train_list"]).read_text(encoding="utf-8").splitlines()
    per_label = collections.Counter(int(line.split(" ")[1]) for line in lines)
    assert per_label == {label: 2 for label in range(6)} and res["train_images"] == 12
