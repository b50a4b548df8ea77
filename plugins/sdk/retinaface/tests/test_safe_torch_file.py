"""The safe reader of pickled PyTorch models: right tensors, never runs or imports what the file names."""
import io
import pickle
import struct
import sys
import textwrap
import tracemalloc
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
import torch

from facex_sdk_retinaface.convert import main as convert_main
from facex_sdk_retinaface.network import RetinaFaceMNet025
from facex_sdk_retinaface.safe_torch_file import LEGACY_MAGIC, LEGACY_PROTOCOL, UnsafeFileError, read_state_dict

FORMATS = pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "zip"])


def save(obj, path, legacy):
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    return path


def assert_same(arrays, state):
    assert set(arrays) == set(state)
    for key, tensor in state.items():
        expected = tensor.float().numpy() if tensor.dtype == torch.bfloat16 else tensor.numpy()
        assert arrays[key].dtype == expected.dtype, key
        np.testing.assert_array_equal(arrays[key], expected, err_msg=key)


@pytest.fixture
def foreign_model(tmp_path, monkeypatch):
    """A whole model whose class lives in a module with side effects on import and on unpickling,
    like FaceX-Zoo's ``models.network_def.retinaface_def`` (the reader must never touch it)."""
    marker = tmp_path / "marker.txt"
    pkg = tmp_path / "site" / "zoo_models"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "retinaface_def.py").write_text(textwrap.dedent(f"""
        import pathlib
        pathlib.Path({str(marker)!r}).write_text("imported")
        from facex_sdk_retinaface.network import RetinaFaceMNet025

        class RetinaFace(RetinaFaceMNet025):
            def __setstate__(self, state):
                pathlib.Path({str(marker)!r}).write_text("unpickled")
                super().__setstate__(state)
        """))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    from zoo_models.retinaface_def import RetinaFace

    torch.manual_seed(0)
    model = RetinaFace()
    with torch.no_grad():
        for buf in model.buffers():
            buf.add_(torch.rand_like(buf.float()).to(buf.dtype))
    yield model, marker
    for name in [m for m in sys.modules if m.startswith("zoo_models")]:
        del sys.modules[name]


@FORMATS
def test_whole_pickled_model_reads_without_importing_its_classes(foreign_model, tmp_path, legacy):
    model, marker = foreign_model
    path = save(model, tmp_path / "face_detection_retina.pkl", legacy)
    for name in [m for m in sys.modules if m.startswith("zoo_models")]:
        del sys.modules[name]
    sys.path.remove(str(tmp_path / "site"))
    marker.unlink()

    arrays = read_state_dict(path)
    assert_same(arrays, model.state_dict())
    assert len(arrays) == 300
    assert not marker.exists() and "zoo_models" not in sys.modules
    # the loaded arrays drive our own network (strict)
    RetinaFaceMNet025().load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()}, strict=True)
    # what torch itself offers: weights_only=True refuses the foreign class outright
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    assert not marker.exists()


class _OldTorchBackend:
    """What torch ≤ 1.4 stored in every module's ``_backend``: a call of a no-argument function."""

    def __reduce__(self):
        import torch.nn.backends.thnn

        return (torch.nn.backends.thnn._get_thnn_function_backend, ())


@FORMATS
def test_old_torch_module_attributes_are_accepted(foreign_model, tmp_path, legacy):
    model, marker = foreign_model
    model._backend = _OldTorchBackend()
    model.body.stage1[0][0]._backend = _OldTorchBackend()
    model.input_shape = torch.Size([1, 3, 640, 640])
    path = save(model, tmp_path / "old.pkl", legacy)
    assert b"_get_thnn_function_backend" in (path.read_bytes() if legacy else zipfile.ZipFile(path).read(
        [n for n in zipfile.ZipFile(path).namelist() if n.endswith("data.pkl")][0]))
    assert_same(read_state_dict(path), model.state_dict())


@FORMATS
def test_state_dicts_dtypes_views_and_dataparallel(tmp_path, legacy):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 7
    state = {"half": base.half(), "bf16": base.bfloat16(), "long": torch.arange(5),
             "int8": torch.tensor([-3, 4], dtype=torch.int8),
             "flag": torch.tensor([True, False]), "transposed": base.t(), "slice": base[1:3, 2:5],
             "scalar": torch.tensor(3.5, dtype=torch.float64), "empty": torch.zeros(0, 3)}
    assert_same(read_state_dict(save(state, tmp_path / "sd.pt", legacy)), state)
    wrapped = {"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}
    assert_same(read_state_dict(save(wrapped, tmp_path / "dp.pt", legacy)), state)
    net = torch.nn.DataParallel(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2)))
    assert_same(read_state_dict(save(net, tmp_path / "dp_model.pt", legacy)), net.module.state_dict())


class _Payload:
    """Pickles as a call of ``open(path, 'w')``: a file appears if the reader ever runs it."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@FORMATS
def test_calls_off_the_allow_list_are_refused(tmp_path, legacy):
    marker = tmp_path / "pwned.txt"
    path = save({"weight": torch.ones(2), "payload": _Payload(marker)}, tmp_path / "evil.pt", legacy)
    with pytest.raises(UnsafeFileError, match=r"refusing to load: the pickle calls \w+\.open"):
        read_state_dict(path)
    assert not marker.exists()


def test_hand_written_pickle_calling_os_system_is_refused(tmp_path):
    # GLOBAL 'os system', a string argument, TUPLE1, REDUCE: the classic payload (never executed here)
    payload = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01cos\nsystem\nq\x02X\x04\x00\x00\x00trueq\x03\x85q\x04Rq\x05s."
    with zipfile.ZipFile(tmp_path / "evil.pt", "w") as zf:
        zf.writestr("archive/data.pkl", payload)
    with pytest.raises(UnsafeFileError, match=r"os\.system"):
        read_state_dict(tmp_path / "evil.pt")


def test_malformed_files_fail_clearly(tmp_path, foreign_model):
    (tmp_path / "noise.pkl").write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(UnsafeFileError, match="noise.pkl"):
        read_state_dict(tmp_path / "noise.pkl")
    model, _ = foreign_model
    whole = save(model, tmp_path / "whole.pkl", legacy=True).read_bytes()
    (tmp_path / "cut.pkl").write_bytes(whole[: len(whole) - 5000])
    with pytest.raises(UnsafeFileError, match="truncated|ends before"):
        read_state_dict(tmp_path / "cut.pkl")
    save([torch.ones(2)], tmp_path / "list.pt", legacy=False)
    with pytest.raises(UnsafeFileError, match="neither a module nor a state dict"):
        read_state_dict(tmp_path / "list.pt")


# -- files built to make the reader allocate far more than they hold -----------------------------

def refused_within(limit_bytes, path, match):
    """The reader refuses ``path`` and never holds more than ``limit_bytes`` while doing so."""
    tracemalloc.start()
    try:
        with pytest.raises(UnsafeFileError, match=match) as info:
            read_state_dict(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < limit_bytes, f"{peak} bytes allocated before refusing"
    assert str(path) in str(info.value)


@FORMATS
@pytest.mark.parametrize("side", [20000, 2 ** 20], ids=["1.6GB", "4TiB"])
def test_stride_zero_expanded_tensor_is_refused_before_allocating(tmp_path, legacy, side):
    # torch.save keeps an expanded tensor as its 1-element storage with stride 0: a 1.5 KB file
    # (363 bytes legacy) that materialises side**2 floats
    path = save({"w": torch.ones(1).expand(side, side)}, tmp_path / "expanded.pt", legacy)
    assert path.stat().st_size < 2000
    refused_within(50 << 20, path, r"refusing to load: a tensor of size \(\d+, \d+\) would materialise")


@FORMATS
def test_one_tensor_under_many_names_is_refused_before_allocating(tmp_path, legacy):
    # the pickle memo names one 256 KB tensor 1,000 times: 256 MB from a 270 KB file
    shared = torch.zeros(64 * 1024)
    path = save({f"layer{i}.weight": shared for i in range(1000)}, tmp_path / "shared.pt", legacy)
    refused_within(50 << 20, path, r"its tensors would materialise \d+ bytes, more than 64 x the file")


class _Storage:
    """A storage record of a hand-written torch file, announcing ``numel`` float32 elements."""

    def __init__(self, numel):
        self.numel = numel


class _Tensor:
    """Pickles as torch's own tensor record: _rebuild_tensor_v2(storage, offset, size, stride, ...)."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, OrderedDict())

    def __reduce__(self):
        import torch._utils

        return torch._utils._rebuild_tensor_v2, self.args


def hand_written_torch_file(path, tensor, data, legacy):
    """A torch file (zip or legacy layout) holding ``{"w": tensor}`` and storage "0" = ``data``."""

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _Storage):
                return ("storage", torch.FloatStorage, "0", "cpu", obj.numel) + ((None,) if legacy else ())
            return None

    def dump(obj, out):
        Pickler(out, protocol=2).dump(obj)

    out = io.BytesIO()
    if legacy:
        for header in (LEGACY_MAGIC, LEGACY_PROTOCOL, {"protocol_version": LEGACY_PROTOCOL, "little_endian": True}):
            dump(header, out)
        dump({"w": tensor}, out)
        dump(["0"], out)
        out.write(struct.pack("<q", tensor.args[0].numel) + data)
        path.write_bytes(out.getvalue())
    else:
        dump({"w": tensor}, out)
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("archive/data.pkl", out.getvalue())
            zf.writestr("archive/data/0", data)
    return path


@FORMATS
def test_hand_written_file_loads(tmp_path, legacy):
    data = np.arange(6, dtype="<f4").tobytes()
    path = hand_written_torch_file(tmp_path / "ok.pt", _Tensor(_Storage(6), 1, (2, 2), (1, 2)), data, legacy)
    np.testing.assert_array_equal(read_state_dict(path)["w"], [[1, 3], [2, 4]])


@FORMATS
@pytest.mark.parametrize("numel, offset, size, stride, message", [
    (4, 0, (100,), (1,), r"a tensor of size \(100,\), stride \(1,\) at offset 0 reaches past the 4 elements"),
    (4, 3, (2, 1), (1, 1), r"at offset 3 reaches past the 4 elements of storage 0"),
    (4, 0, (2,), (-1,), "negative size, stride or offset"),
    # a storage the file announces as 4 TiB: refused before reading it
    (2 ** 40, 0, (4,), (1,), r"storage 0 is truncated or lies: it announces 4398046511104 bytes"),
])
def test_tensor_and_storage_records_are_checked_against_the_file(tmp_path, legacy, numel, offset, size,
                                                                  stride, message):
    path = hand_written_torch_file(tmp_path / "bad.pt", _Tensor(_Storage(numel), offset, size, stride),
                                   np.zeros(4, dtype="<f4").tobytes(), legacy)
    refused_within(50 << 20, path, message)


def test_convert_cli_writes_a_pickle_free_npz(foreign_model, tmp_path, capsys):
    model, _ = foreign_model
    pkl = save(model, tmp_path / "face_detection_retina.pkl", legacy=True)
    assert convert_main([str(pkl), str(tmp_path / "out.npz")]) == 0
    with np.load(tmp_path / "out.npz", allow_pickle=False) as data:
        assert_same({k: data[k] for k in data.files}, model.state_dict())
    save({"fc.weight": torch.ones(2)}, tmp_path / "other.pt", legacy=False)
    assert convert_main([str(tmp_path / "other.pt"), str(tmp_path / "x.npz")]) == 1
    assert "not FaceX-Zoo's RetinaFace" in capsys.readouterr().err
