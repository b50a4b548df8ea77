"""InsightFace RecordIO: read hand-made binary files, round-trip, pack/inspect, the ``recordio`` data format."""
import json
import struct

import cv2
import numpy as np
import pytest

import facex_core
from facex_data_recordio.format import RecordIOFormat
from facex_data_recordio.pack import pack
from facex_data_recordio.plugin import RecordIOConfig
from facex_data_recordio.recordio import MAGIC, IRHeader, RecordIOError, RecordReader, RecordWriter, image_keys, \
    unpack_record


def record_dataset(root):
    """The training dataset the core builds for ``[data] format = "recordio"``, ``root`` = ``root``."""
    return facex_core.FaceImageDataset(root, RecordIOFormat(RecordIOConfig()).samples(root),
                                       data_format=RecordIOFormat(RecordIOConfig()))


def chunk(cflag, data):
    """One RecordIO chunk written straight from the documented layout."""
    return struct.pack("<II", MAGIC, (cflag << 29) | len(data)) + data + b"\0" * ((4 - len(data) % 4) % 4)


def test_reader_parses_hand_made_file_with_split_record(tmp_path):
    magic = struct.pack("<I", MAGIC)
    rec0 = struct.pack("<IfQQ", 0, 7.0, 1, 0) + b"abc"
    # a payload containing the magic word is stored as start/middle/end parts without it
    rec1_payload = struct.pack("<IfQQ", 2, 0.0, 5, 0) + struct.pack("<2f", 3.0, 9.0) + b"xy" + magic + b"z" + magic + b"end"
    parts = rec1_payload.split(magic)
    blob0 = chunk(0, rec0)
    blob1 = chunk(1, parts[0]) + chunk(2, parts[1]) + chunk(3, parts[2])
    (tmp_path / "d.rec").write_bytes(blob0 + blob1)
    (tmp_path / "d.idx").write_text(f"0\t0\n1\t{len(blob0)}\n")
    reader = RecordReader(tmp_path / "d.rec", tmp_path / "d.idx")
    h0, img0 = unpack_record(reader.read(0))
    assert h0 == IRHeader(0, 7.0, 1, 0) and img0 == b"abc"
    assert reader.read(1) == rec1_payload
    h1, img1 = unpack_record(reader.read(1))
    assert h1.flag == 2 and h1.label == (3.0, 9.0) and img1 == b"xy" + magic + b"z" + magic + b"end"


def test_writer_output_is_byte_identical_to_the_layout(tmp_path):
    magic = struct.pack("<I", MAGIC)
    payload = b"12345" + magic + b"67"
    with RecordWriter(tmp_path / "w.rec") as w:
        w.write(3, payload)
    assert (tmp_path / "w.rec").read_bytes() == chunk(1, b"12345") + chunk(3, b"67")
    assert (tmp_path / "w.idx").read_text() == "3\t0\n"
    assert RecordReader(tmp_path / "w.rec").read(3) == payload


def test_corrupt_file_errors_name_the_file(tmp_path):
    (tmp_path / "bad.rec").write_bytes(b"\x00" * 16)
    (tmp_path / "bad.idx").write_text("0\t0\n")
    with pytest.raises(RecordIOError, match="bad.rec: bad magic"):
        RecordReader(tmp_path / "bad.rec").read(0)
    (tmp_path / "bad.idx").write_text("zero\t0\n")
    with pytest.raises(RecordIOError, match="bad.idx:1"):
        RecordReader(tmp_path / "bad.rec")


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for ident, n in (("alice", 3), ("bob", 2), ("carol", 4)):
        (tmp_path / "imgs" / ident).mkdir(parents=True)
        for k in range(n):
            cv2.imwrite(str(tmp_path / "imgs" / ident / f"{k}.jpg"), rng.integers(0, 255, (112, 112, 3), dtype=np.uint8))
    (tmp_path / "imgs" / "bob" / "broken.jpg").write_bytes(b"not an image")
    return tmp_path / "imgs"


def test_pack_inspect_and_train_from_recordio(folder, tmp_path, capsys):
    info = pack(folder, tmp_path / "rec")
    assert info["images"] == 9 and info["skipped"] == 1 and "broken.jpg" in info["errors"][0]
    assert (tmp_path / "rec" / "property").read_text() == "3,112,112"
    reader = RecordReader(tmp_path / "rec" / "train.rec")
    header, _ = unpack_record(reader.read(0))
    assert header.flag == 2 and header.label == (10.0, 13.0)   # images 1..9, identities 10..12
    assert image_keys(reader) == list(range(1, 10))
    assert unpack_record(reader.read(11))[0].label == (4.0, 6.0)  # bob's two images
    ds = record_dataset(tmp_path / "rec")
    assert len(ds) == 9 and ds.num_classes == 3
    assert [label for _, label in ds.samples] == [0, 0, 0, 1, 1, 2, 2, 2, 2]
    img, label = ds[(3, 0)]
    direct = cv2.imread(str(folder / "bob" / "0.jpg"))
    expected = (direct.astype(np.float32) - 127.5) / 128
    np.testing.assert_allclose(img.numpy().transpose(1, 2, 0), expected)
    assert facex_core.main(["data", "inspect", str(tmp_path / "rec"), "--check"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "recordio" and report["declared_classes"] == 3
    assert report["images"] == 9 and report["identities"] == 3 and report["image_sizes"] == {"112x112": 9}
    assert report["images_per_identity"]["max"] == 4


def test_shuffled_pack_is_deterministic_and_workers_do_not_change_it(folder, tmp_path):
    pack(folder, tmp_path / "a", shuffle=True, seed=5)
    pack(folder, tmp_path / "b", shuffle=True, seed=5, workers=2)
    assert (tmp_path / "a" / "train.rec").read_bytes() == (tmp_path / "b" / "train.rec").read_bytes()
    labels = [l for _, l in record_dataset(tmp_path / "a").samples]
    assert sorted(labels) == [0, 0, 0, 1, 1, 2, 2, 2, 2] and labels != sorted(labels)
