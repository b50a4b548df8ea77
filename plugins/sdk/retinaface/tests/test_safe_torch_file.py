"""The safe reader of pickled PyTorch models: right tensors, never runs or imports what the file names."""
import pickle
import sys
import textwrap
import zipfile

import numpy as np
import pytest
import torch

from facex_sdk_retinaface.convert import main as convert_main
from facex_sdk_retinaface.network import RetinaFaceMNet025
from facex_sdk_retinaface.safe_torch_file import UnsafeFileError, read_state_dict

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


def test_convert_cli_writes_a_pickle_free_npz(foreign_model, tmp_path, capsys):
    model, _ = foreign_model
    pkl = save(model, tmp_path / "face_detection_retina.pkl", legacy=True)
    assert convert_main([str(pkl), str(tmp_path / "out.npz")]) == 0
    with np.load(tmp_path / "out.npz", allow_pickle=False) as data:
        assert_same({k: data[k] for k in data.files}, model.state_dict())
    save({"fc.weight": torch.ones(2)}, tmp_path / "other.pt", legacy=False)
    assert convert_main([str(tmp_path / "other.pt"), str(tmp_path / "x.npz")]) == 1
    assert "not FaceX-Zoo's RetinaFace" in capsys.readouterr().err
