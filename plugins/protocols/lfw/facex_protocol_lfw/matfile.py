"""A minimal reader of MATLAB level-5 MAT-files: numeric, logical, char, cell and struct arrays.

That is everything AgeDB's ``04_FINAL_protocol_30_years.mat`` holds, read without scipy. Both byte
orders and the zlib-compressed elements of ``save -v7`` are handled; sparse, object, function-handle
and v7.3 (HDF5) files are refused with an error naming the file.

Layout (MathWorks, "MAT-File Format", level 5): a 128-byte header (text, subsystem offset, version,
endian indicator ``IM``/``MI``), then data elements. Each element is an 8-byte tag (uint32 type,
uint32 byte count) and its data padded to 8 bytes; a "small" element packs type and count (<= 4)
into the first 4 bytes and the data into the next 4. An ``miMATRIX`` element holds sub-elements:
array flags (class in the low byte), dimensions, name, then the class's data in column-major order.

Values come back as: numeric/logical -> ``np.ndarray`` of the MATLAB shape; char -> ``str`` (one
row) or an array of row strings; cell -> object ``np.ndarray``; struct -> object ``np.ndarray``
of ``dict`` (field name -> value, in file order).
"""
from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np

# Data types of element tags ("mi" types) that map to a numpy dtype.
_MI_DTYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8", 13: "u8"}
_MI_MATRIX, _MI_COMPRESSED, _MI_UTF8, _MI_UTF16, _MI_UTF32 = 14, 15, 16, 17, 18

# Array classes ("mx" classes) in the array-flags sub-element.
_MX_CELL, _MX_STRUCT, _MX_CHAR = 1, 2, 4
_MX_NUMERIC = {6: "f8", 7: "f4", 8: "i1", 9: "u1", 10: "i2", 11: "u2", 12: "i4", 13: "u4", 14: "i8", 15: "u8"}
_MX_NAMES = {3: "object", 5: "sparse", 16: "function handle", 17: "opaque"}
_FLAG_COMPLEX, _FLAG_LOGICAL = 0x0800, 0x0200


class MatFileError(ValueError):
    """The file is not a level-5 MAT-file this reader understands; the message names it."""


def is_mat_file(path: str | Path) -> bool:
    """True when the file starts like a MAT-file (``MATLAB`` text header)."""
    with open(path, "rb") as fh:
        return fh.read(6) == b"MATLAB"


def read_mat(path: str | Path) -> dict[str, Any]:
    """All top-level variables of a level-5 MAT-file, by name."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: MAT-file not found") from None
    if len(data) < 128 or not data.startswith(b"MATLAB"):
        raise MatFileError(f"{path}: not a MAT-file (no 'MATLAB' header)")
    if data[:116].startswith(b"MATLAB 7.3"):
        raise MatFileError(f"{path}: MAT-file v7.3 (HDF5) is not supported; save it with -v7 or -v6")
    endian = data[126:128]
    if endian not in (b"IM", b"MI"):
        raise MatFileError(f"{path}: unknown endian indicator {endian!r} (not a level-5 MAT-file?)")
    return _Reader(path, "<" if endian == b"IM" else ">").variables(data)


class _Reader:
    def __init__(self, path: Path, order: str) -> None:
        self.path = path
        self.order = order

    def fail(self, what: str) -> MatFileError:
        return MatFileError(f"{self.path}: {what}")

    def variables(self, data: bytes) -> dict[str, Any]:
        out: dict[str, Any] = {}
        pos = 128
        while pos < len(data):
            mi, body, pos = self.element(data, pos)
            if mi == _MI_COMPRESSED:
                try:
                    inner = zlib.decompress(body)
                except zlib.error as exc:
                    raise self.fail(f"corrupt compressed element ({exc})") from None
                mi, body, _ = self.element(inner, 0)
            if mi != _MI_MATRIX:
                continue  # not a variable (MATLAB writes none such; skip rather than guess)
            name, value = self.matrix(body)
            out[name] = value
        return out

    def element(self, data: bytes, pos: int) -> tuple[int, bytes, int]:
        """(type, data bytes, position of the next element) of the element at ``pos``."""
        if pos + 8 > len(data):
            raise self.fail(f"truncated element tag at byte {pos}")
        first = int(np.frombuffer(data, self.order + "u4", 1, pos)[0])
        if first >> 16:  # small element: count in the high half, data in the tag's second word
            mi, size = first & 0xFFFF, first >> 16
            if size > 4:
                raise self.fail(f"small element at byte {pos} claims {size} bytes")
            return mi, data[pos + 4:pos + 4 + size], pos + 8
        size = int(np.frombuffer(data, self.order + "u4", 1, pos + 4)[0])
        start, end = pos + 8, pos + 8 + size
        if end > len(data):
            raise self.fail(f"truncated element at byte {pos}: {size} bytes announced, "
                            f"{len(data) - start} left")
        # Compressed elements are not padded; every other element is padded to 8 bytes.
        return first, data[start:end], end if first == _MI_COMPRESSED else end + (-size % 8)

    def numbers(self, mi: int, body: bytes) -> np.ndarray:
        dtype = _MI_DTYPES.get(mi)
        if dtype is None:
            raise self.fail(f"unexpected data type {mi} for numeric data")
        return np.frombuffer(body, self.order + dtype)

    def matrix(self, body: bytes) -> tuple[str, Any]:
        """(name, value) of one ``miMATRIX`` element's data."""
        if not body:  # an empty array written as a zero-length matrix element
            return "", np.zeros((0, 0))
        mi, flags_raw, pos = self.element(body, 0)
        flags = self.numbers(mi, flags_raw)
        cls, bits = int(flags[0]) & 0xFF, int(flags[0])
        mi, dims_raw, pos = self.element(body, pos)
        dims = tuple(int(d) for d in self.numbers(mi, dims_raw))
        _, name_raw, pos = self.element(body, pos)
        name = name_raw.decode("ascii", errors="replace")
        count = int(np.prod(dims)) if dims else 0

        if cls in _MX_NUMERIC:
            mi, raw, pos = self.element(body, pos)
            values = self.numbers(mi, raw).astype(_MX_NUMERIC[cls])
            if bits & _FLAG_COMPLEX:
                mi, raw, pos = self.element(body, pos)
                values = values + 1j * self.numbers(mi, raw)
            if bits & _FLAG_LOGICAL:
                values = values.astype(bool)
            if values.size != count:
                raise self.fail(f"variable {name!r}: {values.size} values for dimensions {dims}")
            return name, values.reshape(dims, order="F")
        if cls == _MX_CHAR:
            mi, raw, pos = self.element(body, pos)
            return name, self.chars(mi, raw, dims, name)
        if cls == _MX_CELL:
            items = []
            for _ in range(count):
                mi, raw, pos = self.element(body, pos)
                if mi != _MI_MATRIX:
                    raise self.fail(f"cell {name!r} holds a non-array element (type {mi})")
                items.append(self.matrix(raw)[1])
            return name, _object_array(items, dims)
        if cls == _MX_STRUCT:
            mi, raw, pos = self.element(body, pos)
            width = int(self.numbers(mi, raw)[0])
            mi, raw, pos = self.element(body, pos)
            fields = [raw[i:i + width].split(b"\0", 1)[0].decode("ascii")
                      for i in range(0, len(raw), width)] if width else []
            records = []
            for _ in range(count):
                record = {}
                for field in fields:
                    mi, raw, pos = self.element(body, pos)
                    record[field] = self.matrix(raw)[1]
                records.append(record)
            return name, _object_array(records, dims)
        kind = _MX_NAMES.get(cls, f"class {cls}")
        raise self.fail(f"variable {name!r} is a MATLAB {kind} array, which this reader does not support")

    def chars(self, mi: int, raw: bytes, dims: tuple[int, ...], name: str) -> Any:
        codec = {_MI_UTF8: "utf-8", _MI_UTF16: "utf-16", 4: "utf-16", _MI_UTF32: "utf-32",
                 2: "latin-1", 1: "latin-1"}.get(mi)
        if codec is None:
            raise self.fail(f"char array {name!r} stored as unsupported type {mi}")
        if codec in ("utf-16", "utf-32"):
            codec += "-le" if self.order == "<" else "-be"
        text = raw.decode(codec)
        rows = dims[0] if dims else 0
        if rows <= 1:
            return text
        grid = np.array(list(text), dtype=object).reshape(dims, order="F")
        return np.array(["".join(row) for row in grid.reshape(rows, -1)], dtype=object)


def _object_array(items: list[Any], dims: tuple[int, ...]) -> np.ndarray:
    """Items listed in MATLAB's column-major order, as an object array of shape ``dims``."""
    flat = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        flat[i] = item  # element-wise: numpy would otherwise try to broadcast nested arrays
    return flat.reshape(dims, order="F")
