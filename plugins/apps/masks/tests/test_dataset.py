"""`data mask` as a library: record files, determinism across workers, resume, both mode, RecordIO, bad
files, the folder lock, and one-side-masked pairs.

All with a test double mask adder (a MaskAdder that paints the lower face a template colour), so the
tests are fast and do not need the FMA-3D plugin; the FMA-3D end-to-end checks are in test_commands.py.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

import facex_core
from facex_masks import LOG_NAME, RECORD_NAME, SUMMARY_NAME, image_seed, mask_dataset, masked_name, \
    one_side_masked_pairs
from fakeplug_stripes import face, write_folder  # doubles/ (on sys.path: conftest.py)

LOCK_NAME = ".facex.lock"  # the folder lock mask_dataset holds; its text names the process, so it differs per run


def tree(root: Path) -> dict[str, bytes]:
    """``{relative path: bytes}`` of every file under ``root`` but the folder lock."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != LOCK_NAME}


def log_rows(dst: Path) -> list[dict]:
    return [json.loads(line) for line in (dst / LOG_NAME).read_text().splitlines()]


@pytest.fixture
def double(mask_double):
    return mask_double.StripeAdder(mask_double.StripeConfig())


def test_record_file_names_every_image_with_its_template(tmp_path, double):
    rels = write_folder(tmp_path / "src")
    summary = mask_dataset(tmp_path / "src", tmp_path / "out", double, aligned=True, seed=7, progress=False)
    records = [line.split(" ") for line in (tmp_path / "out" / RECORD_NAME).read_text().splitlines()]
    assert [r[0] for r in records] == rels
    rows = log_rows(tmp_path / "out")
    for (rel, template), row in zip(records, rows):
        seed = image_seed(7, rel)
        # the template and shift are what the double draws from the path-derived seed
        rng = np.random.default_rng(seed)
        assert template == ["black", "blue", "white"][int(rng.integers(3))] == row["template"]
        assert row == {"path": rel, "seed": seed, "status": "masked", "template": template, "error": None,
                       "params": {"shift": int(rng.integers(0, 4)), "aligned": True}, "masked_path": rel}
        original = cv2.imread(str(tmp_path / "src" / rel))
        masked = cv2.imread(str(tmp_path / "out" / rel))
        top = int(112 * 0.55) + row["params"]["shift"]
        assert np.abs(masked[:top - 8].astype(int) - original[:top - 8]).mean() < 12  # JPEG noise only
        assert np.abs(masked[top + 8:].astype(int) - original[top + 8:]).mean() > 40
    assert summary["masked"] == 12 and summary["images"] == 12 and summary["written"] == 12
    assert json.loads((tmp_path / "out" / SUMMARY_NAME).read_text())["templates"] == summary["templates"]
    assert sum(summary["templates"].values()) == 12


def test_output_is_identical_for_zero_and_two_workers(tmp_path, double):
    write_folder(tmp_path / "src", ids=2, per_id=5)
    for name, workers in (("w0", 0), ("w2", 2)):
        mask_dataset(tmp_path / "src", tmp_path / name, double, aligned=True, workers=workers,
                     batch_size=3, chunk_size=4, progress=False)
    a, b = tree(tmp_path / "w0"), tree(tmp_path / "w2")
    assert sorted(a) == sorted(b) and all(a[k] == b[k] for k in a)
    assert not (tmp_path / "w0" / ".mask_state").exists()


def test_interrupted_run_resumes_to_identical_output(tmp_path, double, monkeypatch):
    write_folder(tmp_path / "src", ids=3, per_id=5)
    clean = mask_dataset(tmp_path / "src", tmp_path / "clean", double, aligned=True, batch_size=2,
                         chunk_size=4, progress=False)
    calls = []
    original = type(double).add_masks

    def dies_on_fourth_call(self, *a, **k):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return original(self, *a, **k)

    monkeypatch.setattr(type(double), "add_masks", dies_on_fourth_call)
    with pytest.raises(KeyboardInterrupt):
        mask_dataset(tmp_path / "src", tmp_path / "cut", double, aligned=True, batch_size=2, chunk_size=4,
                     progress=False)
    assert not (tmp_path / "cut" / SUMMARY_NAME).exists()
    assert len(list((tmp_path / "cut" / ".mask_state").glob("chunk-*.jsonl"))) == 1  # 3 batches = 1 chunk + 2
    monkeypatch.setattr(type(double), "add_masks", original)
    resumed = mask_dataset(tmp_path / "src", tmp_path / "cut", double, aligned=True, batch_size=2,
                           chunk_size=4, progress=False)
    assert resumed["resumed_from"] == 4
    assert tree(tmp_path / "cut") == tree(tmp_path / "clean")
    assert resumed["masked"] == clean["masked"] == 15
    again = mask_dataset(tmp_path / "src", tmp_path / "cut", double, aligned=True, batch_size=2,
                         chunk_size=4, progress=False)
    assert again["already_done"] is True
    with pytest.raises(Exception, match="other settings.*seed: 0 there, 1 now"):
        mask_dataset(tmp_path / "src", tmp_path / "cut", double, aligned=True, seed=1, chunk_size=4,
                     progress=False)


def test_both_mode_writes_the_combined_train_list(tmp_path, double):
    rels = write_folder(tmp_path / "src", ids=2, per_id=3)
    cv2.imwrite(str(tmp_path / "src" / "person_1" / "blank.png"), np.full((112, 112, 3), 128, np.uint8))
    labels = {"person_0": 5, "person_1": 9}
    listed = rels + ["person_1/blank.png"]
    (tmp_path / "list.txt").write_text("".join(f"{r} {labels[r.split('/')[0]]}\n" for r in listed))
    summary = mask_dataset(tmp_path / "src", tmp_path / "out", double, train_list=tmp_path / "list.txt",
                           mode="both", progress=False)
    assert summary["job"]["aligned"] is True  # the default for train lists
    expected = []
    for r in rels:
        expected += [f"{r} {labels[r[:8]]}", f"{masked_name(r)} {labels[r[:8]]}"]
    expected.append("person_1/blank.png 9")  # no face: kept, no masked copy
    assert (tmp_path / "out" / "train_list.txt").read_text().splitlines() == expected
    for line in expected:
        assert (tmp_path / "out" / line.split(" ")[0]).is_file()
    assert (tmp_path / "out" / rels[0]).read_bytes() == (tmp_path / "src" / rels[0]).read_bytes()
    assert summary["no_face"] == 1 and summary["masked"] == 6 and summary["written"] == 13


def test_recordio_round_trip_keeps_labels_and_identity_records(tmp_path, double, capsys):
    from facex_data_recordio.recordio import RecordReader, image_keys, iter_records, read_property, record_label, \
        unpack_record

    write_folder(tmp_path / "src", ids=3, per_id=3)
    assert facex_core.main(["data", "pack", str(tmp_path / "src"), str(tmp_path / "rec"), "--workers", "0"]) == 0
    capsys.readouterr()
    summary = mask_dataset(tmp_path / "rec", tmp_path / "both", double, mode="both", progress=False)
    assert summary["masked"] == 9 and summary["written"] == 18
    src = RecordReader(tmp_path / "rec" / "train.rec")
    out = RecordReader(tmp_path / "both" / "train.rec")
    assert read_property(tmp_path / "both" / "property") == (3, 112, 112)
    src_records = list(iter_records(src))
    out_records = list(iter_records(out))
    assert len(out_records) == 18
    for n, (key, header, data) in enumerate(src_records):
        (_, h_orig, d_orig), (_, h_mask, d_mask) = out_records[2 * n], out_records[2 * n + 1]
        assert record_label(h_orig) == record_label(h_mask) == record_label(header)
        assert d_orig == data  # the original record's image bytes are kept as they were
        masked = cv2.imdecode(np.frombuffer(d_mask, np.uint8), cv2.IMREAD_COLOR)
        assert masked.shape == (112, 112, 3) and np.abs(masked[100].astype(int) - masked[100].mean(0)).max() < 12
    # identity records: label l spans keys [6l + 1, 6l + 7)
    first = len(image_keys(out)) + 1
    for label in range(3):
        h, _ = unpack_record(out.read(first + label))
        assert h.label == (6.0 * label + 1, 6.0 * label + 7)
    records = (tmp_path / "both" / RECORD_NAME).read_text().split()
    assert records[::2] == [str(k) for k, _, _ in src_records]
    masked_only = mask_dataset(tmp_path / "rec", tmp_path / "masked", double, progress=False)
    assert masked_only["written"] == 9 and len(image_keys(RecordReader(tmp_path / "masked" / "train.rec"))) == 9


def test_bad_image_is_named_in_the_record_and_the_run_goes_on(tmp_path, double):
    rels = write_folder(tmp_path / "src", ids=2, per_id=2)
    (tmp_path / "src" / "person_0" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    cv2.imwrite(str(tmp_path / "src" / "person_1" / "flat.png"), np.zeros((112, 112, 3), np.uint8))
    summary = mask_dataset(tmp_path / "src", tmp_path / "out", double, aligned=True, progress=False)
    rows = {r["path"]: r for r in log_rows(tmp_path / "out")}
    assert rows["person_0/broken.jpg"]["status"] == "unreadable"
    assert str(tmp_path / "src" / "person_0" / "broken.jpg") in rows["person_0/broken.jpg"]["error"]
    assert rows["person_1/flat.png"] == {"path": "person_1/flat.png", "seed": image_seed(0, "person_1/flat.png"),
                                         "status": "no_face", "template": None, "params": {},
                                         "error": "no face found"}
    records = dict(line.split(" ") for line in (tmp_path / "out" / RECORD_NAME).read_text().splitlines())
    assert records["person_0/broken.jpg"] == "-" and records["person_1/flat.png"] == "-"
    assert not (tmp_path / "out" / "person_0" / "broken.jpg").exists()
    assert (tmp_path / "out" / "person_1" / "flat.png").read_bytes() == (tmp_path / "src" / "person_1" / "flat.png").read_bytes()
    assert (summary["masked"], summary["no_face"], summary["unreadable"]) == (len(rels), 1, 1)
    assert any("broken.jpg" in e for e in summary["first_errors"])


def test_adder_failure_on_one_image_is_isolated(tmp_path, double, monkeypatch):
    write_folder(tmp_path / "src", ids=1, per_id=4)
    original = type(double).add_masks

    def fails_on_odd_shift(self, images, seeds, **k):
        if any(image_seed(0, "person_0/002.jpg") == s for s in seeds):
            raise RuntimeError("renderer exploded")
        return original(self, images, seeds, **k)

    monkeypatch.setattr(type(double), "add_masks", fails_on_odd_shift)
    summary = mask_dataset(tmp_path / "src", tmp_path / "out", double, aligned=True, progress=False)
    rows = {r["path"]: r for r in log_rows(tmp_path / "out")}
    assert rows["person_0/002.jpg"]["status"] == "failed"
    assert "renderer exploded" in rows["person_0/002.jpg"]["error"] and "002.jpg" in rows["person_0/002.jpg"]["error"]
    assert summary["masked"] == 3 and summary["failed"] == 1
    assert (tmp_path / "out" / "person_0" / "002.jpg").read_bytes() == (tmp_path / "src" / "person_0" / "002.jpg").read_bytes()


def test_forced_template_and_unknown_template(tmp_path, double):
    write_folder(tmp_path / "src", ids=1, per_id=3)
    summary = mask_dataset(tmp_path / "src", tmp_path / "out", double, template="white", progress=False)
    assert summary["templates"] == {"white": 3} and summary["job"]["aligned"] is False
    with pytest.raises(Exception, match="'gold' is not one of the adder's templates: black, blue, white"):
        mask_dataset(tmp_path / "src", tmp_path / "out2", double, template="gold", progress=False)


def test_one_side_masked_pairs_mask_only_the_second_image(tmp_path, double):
    for name in ("Ann", "Bob"):
        (tmp_path / "lfw" / name).mkdir(parents=True)
        for k in (1, 2):
            cv2.imwrite(str(tmp_path / "lfw" / name / f"{name}_{k:04d}.jpg"), face(np.random.default_rng(k)))
    (tmp_path / "pairs.txt").write_text("1\t1\nAnn\t1\t2\nAnn\t1\tBob\t2\n")
    mask_dataset(tmp_path / "lfw", tmp_path / "masked", double, aligned=True, progress=False)
    info = one_side_masked_pairs(tmp_path / "pairs.txt", tmp_path / "lfw", tmp_path / "masked", tmp_path / "one")
    assert Path(info["pairs_file"]).read_text() == "1\t1\nAnn\t1\t1002\nAnn\t1\tBob\t1002\n"
    root = Path(info["image_root"])
    assert (root / "Ann/Ann_0001.jpg").read_bytes() == (tmp_path / "lfw/Ann/Ann_0001.jpg").read_bytes()
    assert (root / "Ann/Ann_1002.jpg").read_bytes() == (tmp_path / "masked/Ann/Ann_0002.jpg").read_bytes()
    assert (root / "Bob/Bob_1002.jpg").read_bytes() == (tmp_path / "masked/Bob/Bob_0002.jpg").read_bytes()


def test_a_second_run_into_the_same_folder_is_refused_naming_the_holder(tmp_path, double):
    write_folder(tmp_path / "src", ids=1, per_id=2)
    with facex_core.FolderLock(tmp_path / "out", "data mask"):  # another run holds the folder
        with pytest.raises(facex_core.ConfigError, match=rf"out: in use by .*pid {os.getpid()} .*choose another"):
            mask_dataset(tmp_path / "src", tmp_path / "out", double, aligned=True, progress=False)
    assert not (tmp_path / "out" / SUMMARY_NAME).exists()
    summary = mask_dataset(tmp_path / "src", tmp_path / "out", double, aligned=True, progress=False)
    assert summary["masked"] == 2  # once it is free, the run goes ahead


def test_a_killed_runs_temporaries_are_removed_and_no_others_are_left(tmp_path, double):
    write_folder(tmp_path / "src", ids=1, per_id=3)
    stale = tmp_path / "out" / "person_0" / f".000.jpg.tmp-{os.getpid() + 1}"  # facex_core.atomic_output's name
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a jpeg")
    mask_dataset(tmp_path / "src", tmp_path / "out", double, aligned=True, progress=False)
    assert not stale.exists()
    assert not [p for p in (tmp_path / "out").rglob("*") if ".tmp" in p.name]
