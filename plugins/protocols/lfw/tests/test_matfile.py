"""MAT-file v5 reader: values, shapes and column-major order of files written from the format
description (both byte orders, compressed or not), and errors that name the file."""
from __future__ import annotations

import struct

import numpy as np
import pytest
from matlab_v5_writer import MI_INT8, MI_UINT8, Cell, Doubles, Struct, write_mat

from facex_protocol_lfw.matfile import MatFileError, read_mat

VARIABLES = {
    # 2x3 doubles, stored column-major: the file holds 1 4 2 5 3 6.
    "grid": Doubles(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])),
    # Integer-valued doubles shrunk to int8 on disk, as MATLAB saves them; read back as float64.
    "labels": Doubles(np.array([[1.0, -1.0, 1.0, -1.0]]), stored_as=MI_INT8),
    "name": "10013_MariaCallas_35_f",
    "ab": "ab",  # 4 bytes of UTF-16: a small element
    "cells": Cell((2, 2), ["r0c0", "r1c0", Doubles(np.array([[7.0]]), stored_as=MI_UINT8), "r1c1"]),
    "person": Struct((1, 2), ["name", "age"], [{"name": "Ann", "age": Doubles(np.array([[35.0]]))},
                                              {"name": "Bob", "age": Doubles(np.array([[71.0]]))}]),
}


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("big_endian", [False, True])
def test_reads_every_kind_in_both_byte_orders(tmp_path, compress, big_endian):
    path = tmp_path / "v.mat"
    write_mat(path, VARIABLES, compress=compress, big_endian=big_endian)
    got = read_mat(path)
    assert list(got) == list(VARIABLES)
    np.testing.assert_array_equal(got["grid"], [[1, 2, 3], [4, 5, 6]])
    assert got["labels"].dtype == np.float64 and got["labels"].shape == (1, 4)
    np.testing.assert_array_equal(got["labels"], [[1, -1, 1, -1]])
    assert got["name"] == "10013_MariaCallas_35_f" and got["ab"] == "ab"
    cells = got["cells"]
    assert cells.shape == (2, 2) and cells[0, 0] == "r0c0" and cells[1, 0] == "r1c0" and cells[1, 1] == "r1c1"
    np.testing.assert_array_equal(cells[0, 1], [[7.0]])
    person = got["person"]
    assert person.shape == (1, 2) and list(person[0, 1]) == ["name", "age"]
    assert person[0, 0]["name"] == "Ann" and float(person[0, 1]["age"][0, 0]) == 71.0


def test_column_major_bytes_on_disk(tmp_path):
    # Hand check of the layout the reader relies on: the grid's data element holds 1 4 2 5 3 6.
    path = tmp_path / "v.mat"
    write_mat(path, {"grid": VARIABLES["grid"]})
    raw = path.read_bytes()
    data = raw[-48:]
    assert struct.unpack("<6d", data) == (1.0, 4.0, 2.0, 5.0, 3.0, 6.0)
    assert raw[126:128] == b"IM"


def test_errors_name_the_file(tmp_path):
    plain = tmp_path / "plain.mat"
    plain.write_text("not a mat file")
    with pytest.raises(MatFileError, match=rf"{plain}: not a MAT-file"):
        read_mat(plain)
    hdf5 = tmp_path / "v73.mat"
    hdf5.write_bytes(b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(128, b" "))
    with pytest.raises(MatFileError, match=r"v7\.3 \(HDF5\) is not supported"):
        read_mat(hdf5)
    cut = tmp_path / "cut.mat"
    write_mat(cut, {"grid": VARIABLES["grid"]})
    cut.write_bytes(cut.read_bytes()[:-20])
    with pytest.raises(MatFileError, match=rf"{cut}: truncated element"):
        read_mat(cut)
    with pytest.raises(FileNotFoundError, match="missing.mat"):
        read_mat(tmp_path / "missing.mat")


def test_unsupported_class_is_refused(tmp_path):
    path = tmp_path / "sparse.mat"
    write_mat(path, {"grid": VARIABLES["grid"]})
    raw = bytearray(path.read_bytes())
    # Array flags follow the miMATRIX tag (8 bytes) and their own tag (8 bytes); class 5 = sparse.
    raw[128 + 16] = 5
    path.write_bytes(bytes(raw))
    with pytest.raises(MatFileError, match="'grid' is a MATLAB sparse array"):
        read_mat(path)
