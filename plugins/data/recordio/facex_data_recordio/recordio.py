"""InsightFace/MXNet RecordIO (``train.rec`` + ``train.idx`` + ``property``) without mxnet; layout
(dmlc-core ``recordio.h``, MXNet ``recordio.py``):

* ``.idx``: text, one ``key<TAB>offset`` line per record.
* ``.rec``: chunks of ``uint32 magic 0xCED7230A``, ``uint32 lrec`` (bits 29–31 continuation flag,
  bits 0–28 length), payload, zero padding to 4 bytes. Flag 0 = whole record; 1/2/3 = first,
  middle, last part of a record that was split where its data contained the magic word, which is
  re-inserted between the parts when reading.
* payload: ``IRHeader`` = struct ``<IfQQ`` (flag, label, id, id2; 24 bytes); when ``flag > 0``,
  ``flag`` float32 labels follow; the rest is the encoded image.
* InsightFace convention: record 0 is a header with ``flag=2`` and label ``(a, b)``: images are
  keys ``1..a-1``, identity records ``a..b-1``. ``property`` holds ``num_classes,H,W``."""
from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO, Iterator

import attrs
import numpy as np

from facex_core import DataError

MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_HEADER = struct.Struct("<IfQQ")
_LENGTH_MASK = (1 << 29) - 1


class RecordIOError(DataError):
    """A malformed ``.rec``/``.idx`` file; the message names the file and the offset or line."""


@attrs.frozen
class IRHeader:
    """MXNet image-record header."""

    flag: int
    label: float | tuple[float, ...]
    id: int
    id2: int


def pack_record(header: IRHeader, image: bytes) -> bytes:
    """Serialise one image record (header, optional label array, encoded image bytes)."""
    if isinstance(header.label, (tuple, list, np.ndarray)):
        labels = np.asarray(header.label, dtype=np.float32)
        head = _HEADER.pack(len(labels), 0.0, header.id, header.id2) + labels.tobytes()
    else:
        head = _HEADER.pack(0, float(header.label), header.id, header.id2)
    return head + image


def unpack_record(payload: bytes) -> tuple[IRHeader, bytes]:
    """Split a record payload into its header and the encoded image bytes."""
    if len(payload) < _HEADER.size:
        raise RecordIOError(f"record of {len(payload)} bytes is shorter than its 24-byte header")
    flag, label, id1, id2 = _HEADER.unpack_from(payload)
    rest = payload[_HEADER.size:]
    if flag > 0:
        if len(rest) < 4 * flag:
            raise RecordIOError(f"record header announces {flag} labels but has {len(rest)} bytes")
        values = tuple(float(v) for v in np.frombuffer(rest[:4 * flag], dtype=np.float32))
        return IRHeader(flag, values, id1, id2), rest[4 * flag:]
    return IRHeader(flag, label, id1, id2), rest


def read_index(path: str | os.PathLike) -> dict[int, int]:
    """``key → byte offset`` from a ``.idx`` file."""
    index: dict[int, int] = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2:
                raise RecordIOError(f"{path}:{lineno}: expected 'key<TAB>offset', got {line.strip()!r}")
            try:
                index[int(parts[0])] = int(parts[1])
            except ValueError:
                raise RecordIOError(f"{path}:{lineno}: key and offset must be integers") from None
    return index


class RecordReader:
    """Random access to a ``.rec`` file through its ``.idx``; safe to use from many workers: the file
    is opened lazily per process (a handle inherited through ``fork`` would share its position)."""

    def __init__(self, rec_path: str | os.PathLike, idx_path: str | os.PathLike | None = None) -> None:
        self.rec_path = Path(rec_path)
        self.idx_path = Path(idx_path) if idx_path else self.rec_path.with_suffix(".idx")
        if not self.rec_path.is_file():
            raise RecordIOError(f"{self.rec_path}: record file not found")
        if not self.idx_path.is_file():
            raise RecordIOError(f"{self.idx_path}: index file not found (needed for random access)")
        self.index = read_index(self.idx_path)
        self._fh: BinaryIO | None = None
        self._pid = -1

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fh": None, "_pid": -1}

    @property
    def keys(self) -> list[int]:
        return sorted(self.index)

    def _file(self) -> BinaryIO:
        if self._fh is None or self._pid != os.getpid():
            self._fh = open(self.rec_path, "rb")
            self._pid = os.getpid()
        return self._fh

    def _chunk_head(self, fh: BinaryIO) -> tuple[int, int]:
        """``(continuation flag, length)`` of the chunk at the current position of ``fh``."""
        offset = fh.tell()
        head = fh.read(8)
        if len(head) < 8:
            raise RecordIOError(f"{self.rec_path}: truncated record at offset {offset}: past the end of the file "
                                "(an interrupted copy?)")
        magic, lrec = struct.unpack("<II", head)
        if magic != MAGIC:
            raise RecordIOError(f"{self.rec_path}: bad magic 0x{magic:08X} at offset {offset}")
        return lrec >> 29, lrec & _LENGTH_MASK

    def read_at(self, offset: int) -> bytes:
        """The payload of the record starting at byte ``offset`` (multi-part records reassembled)."""
        fh = self._file()
        fh.seek(offset)
        parts: list[bytes] = []
        while True:
            cflag, length = self._chunk_head(fh)
            data = fh.read(length)
            if len(data) < length:
                raise RecordIOError(f"{self.rec_path}: truncated payload at offset {fh.tell() - len(data)}")
            fh.read((4 - length % 4) % 4)
            parts.append(data)
            if cflag in (0, 3):
                return _MAGIC_BYTES.join(parts)
            if cflag not in (1, 2):
                raise RecordIOError(f"{self.rec_path}: invalid continuation flag {cflag} at offset {offset}")

    def read_header(self, key: int) -> IRHeader:
        """Only the header of record ``key`` (cheap: one small read instead of the whole image)."""
        fh = self._file()
        fh.seek(self.index[key])
        cflag, length = self._chunk_head(fh)
        if cflag != 0 or length < _HEADER.size + 64:
            return unpack_record(self.read(key))[0]  # split or tiny record: take the general path
        try:
            return unpack_record(fh.read(_HEADER.size + 64))[0]
        except RecordIOError as exc:
            raise RecordIOError(f"{self.rec_path}: record {key}: {exc}") from None

    def read(self, key: int) -> bytes:
        if key not in self.index:
            raise KeyError(f"{self.rec_path}: no record with key {key}")
        return self.read_at(self.index[key])

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class RecordWriter:
    """Append records to ``.rec`` and ``.idx`` (splitting payloads that contain the magic word)."""

    def __init__(self, rec_path: str | os.PathLike, idx_path: str | os.PathLike | None = None) -> None:
        self.rec_path = Path(rec_path)
        self.idx_path = Path(idx_path) if idx_path else self.rec_path.with_suffix(".idx")
        self._rec = open(self.rec_path, "wb")
        self._idx = open(self.idx_path, "w", encoding="utf-8")

    def write(self, key: int, payload: bytes) -> None:
        self._idx.write(f"{key}\t{self._rec.tell()}\n")
        pieces = payload.split(_MAGIC_BYTES)
        for i, piece in enumerate(pieces):
            cflag = 0 if len(pieces) == 1 else 1 if i == 0 else 3 if i == len(pieces) - 1 else 2
            if len(piece) > _LENGTH_MASK:
                raise RecordIOError(f"record {key} is larger than RecordIO's 512 MiB limit")
            padding = b"\0" * ((4 - len(piece) % 4) % 4)
            self._rec.write(struct.pack("<II", MAGIC, (cflag << 29) | len(piece)) + piece + padding)

    def close(self) -> None:
        self._rec.close()
        self._idx.close()

    def __enter__(self) -> "RecordWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_property(path: str | os.PathLike) -> tuple[int, int, int]:
    """``num_classes, H, W`` from an InsightFace ``property`` file."""
    text = Path(path).read_text().strip()
    try:
        c, h, w = (int(v) for v in text.split(","))
    except ValueError:
        raise RecordIOError(f"{path}: expected 'num_classes,H,W', got {text!r}") from None
    return c, h, w


def image_keys(reader: RecordReader) -> list[int]:
    """Keys of the image records, following InsightFace's header-record convention."""
    if 0 in reader.index:
        header, _ = unpack_record(reader.read(0))
        if header.flag > 0 and isinstance(header.label, tuple):
            return list(range(1, int(header.label[0])))
    return reader.keys


def record_label(header: IRHeader) -> int:
    """Class id of an image record (the first value when the label is an array)."""
    return int(header.label[0] if isinstance(header.label, tuple) else header.label)


def iter_records(reader: RecordReader) -> Iterator[tuple[int, IRHeader, bytes]]:
    for key in image_keys(reader):
        yield key, *unpack_record(reader.read(key))
