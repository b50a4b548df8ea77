"""Test helper: write level-5 MAT-files byte by byte from the format description.

Independent of the plugin's reader, so reading these files back checks the reader against the
layout rather than against itself. Covers what MATLAB writes for AgeDB's protocol file: cells,
structs, char rows (UTF-16 code units), doubles stored in a smaller integer type (as MATLAB does
for integer-valued doubles), small elements, zlib-compressed variables and both byte orders.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MI_INT8, MI_UINT8, MI_INT32, MI_UINT32, MI_UINT16, MI_DOUBLE = 1, 2, 5, 6, 4, 9
MI_MATRIX, MI_COMPRESSED = 14, 15
MX_CELL, MX_STRUCT, MX_CHAR, MX_DOUBLE = 1, 2, 4, 6


@dataclass
class Cell:
    shape: tuple[int, int]
    items: list[Any]  # column-major


@dataclass
class Struct:
    shape: tuple[int, int]
    fields: list[str]
    records: list[dict] = field(default_factory=list)  # column-major


@dataclass
class Doubles:
    """A double array; ``stored_as`` is the element type written (MATLAB shrinks integer data)."""

    values: np.ndarray  # 2-D
    stored_as: int = MI_DOUBLE


class Writer:
    def __init__(self, big_endian: bool = False) -> None:
        self.o = ">" if big_endian else "<"

    def tag(self, mi: int, payload: bytes, small_ok: bool = True) -> bytes:
        if small_ok and 0 < len(payload) <= 4:
            # Small element: type and count share the first 4 bytes (type in the low half).
            return struct.pack(self.o + "I", (len(payload) << 16) | mi) + payload.ljust(4, b"\0")
        return struct.pack(self.o + "II", mi, len(payload)) + payload + b"\0" * (-len(payload) % 8)

    def matrix(self, value: Any, name: str = "") -> bytes:
        if isinstance(value, str):
            cls, dims = MX_CHAR, (1, len(value))
            data = self.tag(MI_UINT16, value.encode("utf-16-be" if self.o == ">" else "utf-16-le"))
        elif isinstance(value, Doubles):
            cls, dims = MX_DOUBLE, value.values.shape
            dtype = {MI_DOUBLE: "f8", MI_INT8: "i1", MI_UINT8: "u1"}[value.stored_as]
            flat = value.values.ravel(order="F").astype(self.o + dtype)
            data = self.tag(value.stored_as, flat.tobytes())
        elif isinstance(value, Cell):
            cls, dims = MX_CELL, value.shape
            data = b"".join(self.matrix(item) for item in value.items)
        elif isinstance(value, Struct):
            cls, dims = MX_STRUCT, value.shape
            width = 32
            names = b"".join(f.encode("ascii").ljust(width, b"\0") for f in value.fields)
            data = self.tag(MI_INT32, struct.pack(self.o + "i", width)) + self.tag(MI_INT8, names)
            data += b"".join(self.matrix(rec[f]) for rec in value.records for f in value.fields)
        else:
            raise TypeError(type(value))
        flags = self.tag(MI_UINT32, struct.pack(self.o + "II", cls, 0))
        dims_el = self.tag(MI_INT32, struct.pack(self.o + f"{len(dims)}i", *dims))
        name_el = self.tag(MI_INT8, name.encode("ascii"))
        body = flags + dims_el + name_el + data
        return struct.pack(self.o + "II", MI_MATRIX, len(body)) + body

    def file(self, variables: dict[str, Any], compress: bool) -> bytes:
        text = b"MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2018"
        header = text.ljust(116, b" ") + b"\0" * 8 + struct.pack(self.o + "H", 0x0100)
        header += b"IM" if self.o == "<" else b"MI"
        out = header
        for name, value in variables.items():
            element = self.matrix(value, name)
            if compress:  # compressed elements carry no padding
                packed = zlib.compress(element)
                element = struct.pack(self.o + "II", MI_COMPRESSED, len(packed)) + packed
            out += element
        return out


def write_mat(path, variables: dict[str, Any], *, compress: bool = False,
              big_endian: bool = False) -> None:
    path.write_bytes(Writer(big_endian).file(variables, compress))
