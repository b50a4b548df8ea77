"""The .bin reader: real-format pickles (protocols 2 and 4, Python 3 bytes / str items, Python 2
str items) load; anything that could run code or is not .bin data is refused, naming the file."""
from __future__ import annotations

import io
import os
import pickle
import struct

import cv2
import numpy as np
import pytest

from facex_protocol_bin.binfile import BinFormatError, DataOnlyUnpickler, read_bin


def jpegs(n, seed=0):
    rng = np.random.default_rng(seed)
    return [cv2.imencode(".jpg", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))[1].tobytes()
            for _ in range(n)]


def py2_pickle(bins, issame):
    """What Python 2's ``pickle.dump((bins, issame), f, protocol=2)`` writes: ``str`` images as
    SHORT_BINSTRING (< 256 bytes) or BINSTRING, bools as NEWTRUE/NEWFALSE (no memo, which is valid)."""
    out = b"\x80\x02" + b"]("
    for b in bins:
        out += (b"U" + bytes([len(b)]) + b) if len(b) < 256 else (b"T" + struct.pack("<I", len(b)) + b)
    out += b"e](" + b"".join(b"\x88" if s else b"\x89" for s in issame) + b"e\x86."
    return out


def write(tmp_path, data, name="lfw.bin"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


BINS = jpegs(6)
ISSAME = [True, False, True]


@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize("as_str", [False, True])
def test_python3_pickles_load(tmp_path, protocol, as_str):
    # Protocol 2 writes bytes through _codecs.encode(text, 'latin1'); protocol 4 as BINBYTES.
    items = [b.decode("latin-1") for b in BINS] if as_str else BINS
    path = write(tmp_path, pickle.dumps((items, ISSAME), protocol=protocol))
    images, issame = read_bin(path)
    assert images == BINS and issame == ISSAME


def test_python2_pickle_loads_as_bytes(tmp_path):
    big = BINS[0] + b"\0" * 300  # forces BINSTRING next to SHORT_BINSTRING
    bins = [big] + BINS[1:]
    path = write(tmp_path, py2_pickle(bins, ISSAME))
    assert pickle.loads(py2_pickle(bins, ISSAME), encoding="bytes") == (bins, ISSAME)  # format sanity
    images, issame = read_bin(path)
    assert images == bins and issame == ISSAME


class RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"echo pwned > {self.marker}",)


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, protocol):
    marker = tmp_path / "pwned.txt"
    payload = pickle.dumps(([RunsACommand(marker)] * 2, [True]), protocol=protocol)
    path = write(tmp_path, payload, "evil.bin")
    with pytest.raises(BinFormatError, match=rf"{path}: refusing to load: .*system") as info:
        read_bin(path)
    assert "bytes, strings, lists, tuples, bools and ints" in str(info.value)
    assert not marker.exists()
    # The unpickler alone (second line of defence, without the opcode check) refuses it too.
    with pytest.raises(BinFormatError, match="refusing to load"):
        DataOnlyUnpickler(io.BytesIO(payload), str(path)).load()
    assert not marker.exists()
    # Control: the same bytes given to plain pickle do run the command, so the test means something.
    pickle.loads(payload)
    assert marker.read_text().strip() == "pwned"


@pytest.mark.parametrize("payload, message", [
    (pickle.dumps(([np.frombuffer(BINS[0], np.uint8)] * 2, [True]), protocol=4),
     r"asks for the global numpy\.\S*_reconstruct"),
    (pickle.dumps(({"a": BINS[0]}, [True]), protocol=4), "opcode EMPTY_DICT"),
    (pickle.dumps((BINS[:2], [1.0]), protocol=4), "opcode BINFLOAT"),
    (b"\x80\x02\x82\x01.", "opcode EXT1"),
    # _codecs.encode with anything but (str, 'latin1') is refused, so it cannot be repurposed.
    (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00rot13\x86R.", "only allowed as encode"),
    (b"\x80\x02X\x01\x00\x00\x00aQ.", "opcode BINPERSID"),
])
def test_non_data_pickles_are_refused(tmp_path, payload, message):
    path = write(tmp_path, payload)
    with pytest.raises(BinFormatError, match=message) as info:
        read_bin(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("obj, message", [
    ([BINS[:2]], r"expected a pickled \(bins, issame_list\)"),
    ((BINS[:3], [True]), "3 images for 1 pairs"),
    ((BINS[:2], [2]), r"issame_list\[0\] is 2"),
    (([], []), "issame_list is empty"),
    (([BINS[0], 7], [True]), "image 1 is a int"),
])
def test_structure_errors_name_the_file(tmp_path, obj, message):
    path = write(tmp_path, pickle.dumps(obj, protocol=4))
    with pytest.raises(BinFormatError, match=message) as info:
        read_bin(path)
    assert str(path) in str(info.value)


def test_images_shared_through_the_memo_are_refused(tmp_path):
    # One 16 KB image named 1,800 times through the memo (BINGET, two bytes each): a 20 KB file that
    # plain pickle unpacks to 29.5 MB of images, and the cache would decode and write every one.
    image = bytes(np.random.default_rng(0).integers(0, 256, 16 * 1024, dtype=np.uint8))
    for protocol in (2, 4):  # protocol 2 re-uses the _codecs.encode result, 4 the BINBYTES
        path = write(tmp_path, pickle.dumps(([image] * 1800, [True] * 900), protocol=protocol), f"memo{protocol}.bin")
        assert path.stat().st_size < 40_000
        assert sum(map(len, pickle.loads(path.read_bytes(), encoding="bytes")[0])) > 29_000_000
        with pytest.raises(BinFormatError, match=rf"{path}: refusing to load: the pickle builds more than "
                                                 r"\d+ bytes of strings \(4 x its \d+ bytes \+ 1 MiB\)"):
            read_bin(path)


@pytest.mark.parametrize("protocol", [2, 4])
def test_large_files_of_distinct_images_stay_within_the_budget(tmp_path, protocol):
    # 2.4 MB of distinct images: past the 1 MiB allowance, so the 4 x file-size part is what admits them
    # (protocol 2 builds each image twice: the latin-1 text, then its bytes)
    rng = np.random.default_rng(1)
    bins = [bytes(rng.integers(0, 256, 12 * 1024, dtype=np.uint8)) for _ in range(200)]
    path = write(tmp_path, pickle.dumps((bins, [True, False] * 50), protocol=protocol))
    images, issame = read_bin(path)
    assert images == bins and len(issame) == 100


def test_length_fields_beyond_the_file_are_refused_before_allocating(tmp_path):
    # BINBYTES8 announcing 1 TiB in a 20-byte file: refused, never allocated
    path = write(tmp_path, b"\x80\x04\x8e" + struct.pack("<Q", 1 << 40) + b"abc.")
    with pytest.raises(BinFormatError, match=str(path)):
        read_bin(path)
    with pytest.raises(BinFormatError, match="announces 1099511627776 bytes, more than the file holds"):
        DataOnlyUnpickler(io.BytesIO(path.read_bytes()), str(path)).load()


def test_not_a_pickle_and_missing_file(tmp_path):
    path = write(tmp_path, b"\xff\xd8\xff\xe0 a jpeg, not a pickle")
    with pytest.raises(BinFormatError, match=rf"{path}: not a readable pickle"):
        read_bin(path)
    with pytest.raises(FileNotFoundError, match="missing.bin"):
        read_bin(tmp_path / "missing.bin")
