"""Read the tensors of a PyTorch file (a pickled whole model or a state dict) without running it.

FaceX-Zoo releases its SDK models as ``torch.save(model)`` of the whole ``nn.Module`` (legacy, pre-zip
format for the detector). ``torch.load`` of such a file imports and runs FaceX-Zoo's model classes;
``torch.load(weights_only=True)`` refuses them, and allow-listing them with
``torch.serialization.safe_globals`` would mean importing FaceX-Zoo's ``models.network_def`` code,
i.e. running foreign code. So this module reads the two on-disk formats itself:

* **zip** (torch ≥ 1.6): ``<name>/data.pkl`` plus one raw record ``<name>/data/<key>`` per storage;
* **legacy**: five pickles in a row (magic number, protocol 1001, system info, the object, the
  storage keys) followed by each storage as an int64 element count and its raw bytes.

The object pickle is read by :class:`_RestrictedUnpickler`, a :class:`facex_core.SafeUnpickler` (which
bounds the bytes and strings a file may build and refuses persistent ids it is not taught); its rules are:

1. The only globals that resolve to callables are on :data:`REBUILD_FUNCTIONS` (tensor and parameter
   rebuild functions, mapped to local functions that only record shape, stride and offset; old
   torch's ``_get_thnn_function_backend``, mapped to a function returning ``None``), plus
   ``collections.OrderedDict``, ``set``/``frozenset``, ``torch.Size`` (as ``tuple``) and
   ``copyreg._reconstructor`` (mapped to a local function that only creates an inert record).
2. Storage types (``torch.FloatStorage`` ...) resolve to dtype tokens (:data:`STORAGE_DTYPES`).
3. Every other global (``models.network_def.retinaface_def.RetinaFace``, ``torch.nn.modules.conv.Conv2d``,
   and equally ``os.system``) is **never imported**: it becomes an inert placeholder class. A
   placeholder can only be instantiated the way pickle restores plain objects (``NEWOBJ`` +
   ``BUILD``), which stores the pickled attribute dict and runs nothing; *calling* it (``REDUCE``,
   ``INST``, ``OBJ``: how a pickle runs a function) raises :class:`UnsafeFileError`.

Every tensor's size, stride and offset is checked against its storage while the pickle is read, and
every storage's byte count against the bytes in the file before it is read, so nothing is allocated
for a tensor that reaches past its storage or that would materialise more than
:data:`EXPANSION` x its storage's bytes + 1 MiB (a stride-0 "expanded" tensor: 1.6 GB from 1.5 KB),
nor for a storage the file cannot hold.

Module trees are then walked through their pickled ``_parameters`` / ``_buffers`` / ``_modules``
dicts into ``{"path.name": numpy array}``; a ``module.`` prefix (``DataParallel``) is removed.
"""
from __future__ import annotations

import io
import math
import os
import pickle
import re
import struct
import zipfile
from collections import OrderedDict
from typing import Any, BinaryIO, Callable, NamedTuple

import numpy as np

from facex_core import SafeUnpickler, UnsafePickleError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

#: torch storage type name → numpy dtype ("bfloat16" is widened to float32).
STORAGE_DTYPES: dict[str, Any] = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16", "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}

#: (module, name) → method of :class:`_RestrictedUnpickler` standing in for it.
REBUILD_FUNCTIONS = {
    ("torch._utils", "_rebuild_tensor"): "_rebuild_tensor",
    ("torch._utils", "_rebuild_tensor_v2"): "_rebuild_tensor",
    ("torch._utils", "_rebuild_parameter"): "_rebuild_parameter",
    ("torch._utils", "_rebuild_parameter_with_state"): "_rebuild_parameter",
    ("torch.nn.parameter", "Parameter"): "_rebuild_parameter",  # torch < 1.0 wrote Parameter(data, grad)
    # torch ≤ 1.4 modules carry ``_backend``, pickled as a call of this no-argument function
    ("torch.nn.backends.thnn", "_get_thnn_function_backend"): "_legacy_backend",
}
_CONTAINERS = {("collections", "OrderedDict"): OrderedDict,
               ("builtins", "set"): set, ("__builtin__", "set"): set,
               ("builtins", "frozenset"): frozenset, ("__builtin__", "frozenset"): frozenset,
               ("builtins", "object"): object, ("__builtin__", "object"): object,
               ("torch", "Size"): tuple}
_RECONSTRUCTOR = {("copyreg", "_reconstructor"), ("copy_reg", "_reconstructor")}
_KEY = re.compile(r"^[A-Za-z0-9_.\-]{1,200}$")
#: A tensor may materialise at most this many times its storage's bytes (+ :data:`SLACK`); a whole
#: file at most this many times its size (+ :data:`SLACK`). Real weights materialise ~1x.
EXPANSION = 64
SLACK = 1 << 20


class UnsafeFileError(UnsafePickleError):
    """The file asks to run code, or is not a well-formed PyTorch file; the message names the file."""


class StorageType(NamedTuple):
    name: str


class StorageRef(NamedTuple):
    key: str
    dtype: Any
    numel: int
    view_offset: int = 0


class TensorRef(NamedTuple):
    storage: StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


class OpaqueObject:
    """Instance of a class the file names but that is never imported; holds its pickled state."""

    _facex_global = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> "OpaqueObject":
        return object.__new__(cls)

    def __setstate__(self, state: Any) -> None:
        self.__dict__["_facex_state"] = state

    @property
    def state(self) -> Any:
        return self.__dict__.get("_facex_state")


class _NeverCalled(type):
    """Metaclass of placeholders: pickle may create instances (NEWOBJ) but never call the class."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        raise UnsafeFileError(f"refusing to load: the pickle calls {cls._facex_global} "
                              f"(not a tensor-rebuild function on the allow-list)")


def _text(value: Any) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else str(value)


class _DataOnlyUnpickler(SafeUnpickler):
    """For the legacy header/footer pickles: numbers, strings, dicts, lists; no globals at all."""

    error = UnsafeFileError

    def __init__(self, file: BinaryIO, source: str) -> None:
        super().__init__(file, source, encoding="utf-8")


class _RestrictedUnpickler(_DataOnlyUnpickler):
    """Unpickles a torch object pickle; see the module docstring for what each global becomes."""

    allowed = _CONTAINERS

    def __init__(self, file: BinaryIO, source: str, legacy: bool) -> None:
        super().__init__(file, source)
        self.legacy = legacy
        self.storages: dict[str, StorageRef] = {}
        self._placeholders: dict[tuple[str, str], type] = {}

    # -- globals -------------------------------------------------------------------------------
    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        if key in REBUILD_FUNCTIONS:
            return getattr(self, REBUILD_FUNCTIONS[key])  # a fresh bound method: nothing to tamper with
        if module == "torch" and name in STORAGE_DTYPES:
            return StorageType(name)
        if key in self.allowed:
            return super().find_class(module, name)
        if key in _RECONSTRUCTOR:
            return self._reconstructor
        if key not in self._placeholders:
            self._placeholders[key] = _NeverCalled(str(name), (OpaqueObject,),
                                                   {"_facex_global": f"{module}.{name}",
                                                    "__module__": f"<not imported> {module}"})
        return self._placeholders[key]

    def _reconstructor(self, cls: Any, base: Any, state: Any = None) -> OpaqueObject:
        if not (isinstance(cls, type) and issubclass(cls, OpaqueObject)) or base is not object or state is not None:
            raise UnsafeFileError(f"{self.source}: refusing to load: copyreg._reconstructor with "
                                  f"unexpected arguments")
        return OpaqueObject.__new__(cls)

    def _rebuild_tensor(self, storage: Any, offset: Any, size: Any, stride: Any, *rest: Any) -> TensorRef:
        if not isinstance(storage, StorageRef):
            raise UnsafeFileError(f"{self.source}: tensor rebuilt from something that is not a storage")
        try:
            size_t = tuple(int(s) for s in size)
            stride_t = tuple(int(s) for s in stride)
            off = int(offset)
        except (TypeError, ValueError):
            raise UnsafeFileError(f"{self.source}: malformed tensor record") from None
        if len(size_t) != len(stride_t):
            raise UnsafeFileError(f"{self.source}: malformed tensor record (size/stride lengths differ)")
        if any(s < 0 for s in size_t) or any(s < 0 for s in stride_t) or off < 0:
            raise UnsafeFileError(f"{self.source}: tensor with negative size, stride or offset")
        ref = TensorRef(storage, off, size_t, stride_t)
        # checked here, while only numbers exist: _materialize would allocate all of it
        numel, itemsize = math.prod(size_t), _itemsize(storage.dtype)
        if numel and off + _reach(ref) >= storage.numel:
            raise UnsafeFileError(f"{self.source}: a tensor of size {size_t}, stride {stride_t} at offset "
                                  f"{off} reaches past the {storage.numel} elements of storage {storage.key}")
        if numel * itemsize > EXPANSION * storage.numel * itemsize + SLACK:
            raise UnsafeFileError(f"{self.source}: refusing to load: a tensor of size {size_t} would "
                                  f"materialise {numel * itemsize} bytes from the {storage.numel * itemsize} "
                                  f"bytes of storage {storage.key} (more than {EXPANSION} x + 1 MiB)")
        return ref

    def _legacy_backend(self) -> None:
        return None

    def _rebuild_parameter(self, data: Any, *rest: Any) -> Any:
        if not isinstance(data, TensorRef):
            raise UnsafeFileError(f"{self.source}: parameter rebuilt from something that is not a tensor")
        return data

    # -- storages ------------------------------------------------------------------------------
    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid:
            raise UnsafeFileError(f"{self.source}: malformed persistent id")
        kind = _text(pid[0])
        if kind == "module" and self.legacy and len(pid) >= 2:
            cls = pid[1]  # legacy saves keep the class (plus its source text, which we ignore)
            if not (isinstance(cls, type) and issubclass(cls, OpaqueObject)):
                raise UnsafeFileError(f"{self.source}: malformed module record")
            return cls
        if kind != "storage" or len(pid) < 5:
            raise UnsafeFileError(f"{self.source}: unsupported persistent id {kind!r}")
        storage_type, key, numel = pid[1], _text(pid[2]), pid[4]
        if not isinstance(storage_type, StorageType):
            raise UnsafeFileError(f"{self.source}: storage of unsupported type {storage_type!r}")
        if not _KEY.match(key) or not isinstance(numel, int) or numel < 0:
            raise UnsafeFileError(f"{self.source}: malformed storage record {key!r}")
        dtype = STORAGE_DTYPES[storage_type.name]
        root = self.storages.setdefault(key, StorageRef(key, dtype, numel))
        if root.dtype != dtype:
            raise UnsafeFileError(f"{self.source}: storage {key} is used with two element types")
        view = pid[5] if self.legacy and len(pid) > 5 else None
        if view is None:
            return root
        try:  # legacy storage views: (view key, element offset, view size)
            _, view_offset, view_size = view
            view_offset, view_size = int(view_offset), int(view_size)
        except (TypeError, ValueError):
            raise UnsafeFileError(f"{self.source}: malformed storage view") from None
        if view_offset < 0 or view_size < 0 or view_offset + view_size > numel:
            raise UnsafeFileError(f"{self.source}: a view of storage {key} does not fit its {numel} elements")
        return StorageRef(key, dtype, view_size, view_offset)


# ---------------------------------------------------------------------------------------------
def _itemsize(dtype: Any) -> int:
    return 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize


def _reach(ref: TensorRef) -> int:
    """Index of the tensor's last element relative to its first (sizes > 0)."""
    return sum((n - 1) * st for n, st in zip(ref.size, ref.stride))


def _check_storage_bytes(need: int, available: int, source: str, key: str) -> None:
    """Before reading a storage: it cannot be larger than what the file still holds."""
    if need > available:
        raise UnsafeFileError(f"{source}: storage {key} is truncated or lies: it announces {need} bytes, "
                              f"but the file holds only {available} more")


def _as_array(raw: bytes, dtype: Any, numel: int, big_endian: bool, source: str, key: str) -> np.ndarray:
    need = numel * _itemsize(dtype)
    if len(raw) < need:
        raise UnsafeFileError(f"{source}: storage {key} is truncated ({len(raw)} of {need} bytes)")
    if dtype == "bfloat16":
        half = np.frombuffer(raw, dtype=">u2" if big_endian else "<u2", count=numel)
        return (half.astype(np.uint32) << 16).view(np.float32)
    dt = np.dtype(dtype)
    if dt.itemsize > 1:
        dt = dt.newbyteorder(">" if big_endian else "<")
    return np.frombuffer(raw, dtype=dt, count=numel).astype(np.dtype(dtype).newbyteorder("="), copy=False)


def _materialize(ref: TensorRef, storages: dict[str, np.ndarray], source: str) -> np.ndarray:
    flat = storages.get(ref.storage.key)
    if flat is None:
        raise UnsafeFileError(f"{source}: storage {ref.storage.key} is missing")
    start = ref.storage.view_offset + ref.offset  # sizes, strides and offsets were checked on reading
    if 0 in ref.size:
        return np.zeros(ref.size, dtype=flat.dtype)
    if start + _reach(ref) >= flat.size:  # a legacy storage may hold fewer elements than announced
        raise UnsafeFileError(f"{source}: tensor reaches past the end of storage {ref.storage.key}")
    view = np.lib.stride_tricks.as_strided(flat[start:], shape=ref.size,
                                           strides=[st * flat.itemsize for st in ref.stride], writeable=False)
    return np.array(view)


def _load_zip(path: str) -> tuple[Any, dict[str, np.ndarray]]:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise UnsafeFileError(f"{path}: zip file without exactly one <name>/data.pkl: not a torch file")
        prefix = pkl[0][: -len("data.pkl")]
        big_endian = False
        if prefix + "byteorder" in names:
            big_endian = zf.read(prefix + "byteorder").strip() == b"big"
        unpickler = _RestrictedUnpickler(io.BytesIO(zf.read(pkl[0])), path, legacy=False)
        obj = unpickler.load()
        storages = {}
        for key, ref in unpickler.storages.items():
            member = f"{prefix}data/{key}"
            if member not in names:
                raise UnsafeFileError(f"{path}: storage record {member} is missing")
            need = ref.numel * _itemsize(ref.dtype)
            _check_storage_bytes(need, min(zf.getinfo(member).file_size, os.path.getsize(path)), path, key)
            with zf.open(member) as fh:  # only the bytes the storage needs, even from a lying header
                storages[key] = _as_array(fh.read(need), ref.dtype, ref.numel, big_endian, path, key)
    return obj, storages


def _load_legacy(path: str) -> tuple[Any, dict[str, np.ndarray]]:
    with open(path, "rb") as fh:
        if fh.read(1) != b"\x80":
            raise UnsafeFileError(f"{path}: neither a zip-format nor a legacy-format PyTorch file")
        fh.seek(0)
        try:
            magic = _DataOnlyUnpickler(fh, path).load()
            protocol = _DataOnlyUnpickler(fh, path).load()
            sys_info = _DataOnlyUnpickler(fh, path).load()
        except UnsafeFileError:
            raise
        except Exception as exc:
            raise UnsafeFileError(f"{path}: not a PyTorch file ({exc})") from None
        if magic != LEGACY_MAGIC or protocol != LEGACY_PROTOCOL or not isinstance(sys_info, dict):
            raise UnsafeFileError(f"{path}: not a legacy-format PyTorch file (magic number / protocol differ)")
        big_endian = not sys_info.get("little_endian", True)
        unpickler = _RestrictedUnpickler(fh, path, legacy=True)
        obj = unpickler.load()
        keys = _DataOnlyUnpickler(fh, path).load()
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise UnsafeFileError(f"{path}: malformed storage key list")
        storages = {}
        for key in keys:
            head = fh.read(8)
            if len(head) != 8:
                raise UnsafeFileError(f"{path}: file ends before storage {key}")
            (numel,) = struct.unpack(">q" if big_endian else "<q", head)
            ref = unpickler.storages.get(key)
            if ref is None:
                raise UnsafeFileError(f"{path}: storage {key} is not referenced by the object")
            if numel < 0 or numel > ref.numel:
                raise UnsafeFileError(f"{path}: storage {key} has a bad size {numel}")
            _check_storage_bytes(numel * _itemsize(ref.dtype), os.path.getsize(path) - fh.tell(), path, key)
            storages[key] = _as_array(fh.read(numel * _itemsize(ref.dtype)), ref.dtype, numel,
                                      big_endian, path, key)
    return obj, storages


def load_object(path: str | os.PathLike) -> tuple[Any, Callable[[TensorRef], np.ndarray]]:
    """The unpickled object (placeholders + :class:`TensorRef` leaves) and a function turning refs into arrays."""
    path = os.fspath(path)
    try:
        obj, storages = (_load_zip if zipfile.is_zipfile(path) else _load_legacy)(path)
    except UnsafeFileError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, AttributeError,
            IndexError, zipfile.BadZipFile, struct.error) as exc:
        raise UnsafeFileError(f"{path}: cannot read as a PyTorch file: {type(exc).__name__}: {exc}") from None
    return obj, lambda ref: _materialize(ref, storages, path)


def _module_state(obj: OpaqueObject, prefix: str, out: dict[str, TensorRef], source: str) -> None:
    state = obj.state
    if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict):
        state = state[0]
    if not isinstance(state, dict) or "_modules" not in state:
        raise UnsafeFileError(f"{source}: {prefix or 'the top object'} ({obj._facex_global}) is not an nn.Module")
    skip = set(state.get("_non_persistent_buffers_set") or ())
    for group in ("_parameters", "_buffers"):
        for name, value in (state.get(group) or {}).items():
            if value is None or (group == "_buffers" and name in skip):
                continue
            if not isinstance(value, TensorRef):
                raise UnsafeFileError(f"{source}: {prefix}{name} is not a tensor")
            out[prefix + name] = value
    for name, child in (state.get("_modules") or {}).items():
        if child is not None:
            if not isinstance(child, OpaqueObject):
                raise UnsafeFileError(f"{source}: {prefix}{name} is not an nn.Module")
            _module_state(child, f"{prefix}{name}.", out, source)


def _find_tensors(obj: Any, source: str) -> dict[str, TensorRef]:
    if isinstance(obj, OpaqueObject):
        out: dict[str, TensorRef] = {}
        _module_state(obj, "", out, source)
        return out
    if isinstance(obj, dict):
        if obj and all(isinstance(v, TensorRef) for v in obj.values()):
            return {str(k): v for k, v in obj.items()}
        for key in ("state_dict", "model", "net", "module", "backbone"):
            if isinstance(obj.get(key), (dict, OpaqueObject)):
                return _find_tensors(obj[key], source)
        raise UnsafeFileError(f"{source}: a dict without a state dict; its keys: {sorted(map(str, obj))[:10]}")
    raise UnsafeFileError(f"{source}: holds a {type(obj).__name__}, neither a module nor a state dict")


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """``{"path.name": array}`` of a pickled whole model or state dict, read without running the file.

    Raises :class:`UnsafeFileError` when the file asks to call anything off the allow-list or is
    malformed. A leading ``module.`` (``nn.DataParallel``) is removed.
    """
    obj, materialize = load_object(path)
    refs = _find_tensors(obj, os.fspath(path))
    if refs and all(k.startswith("module.") for k in refs):
        refs = {k[len("module."):]: v for k, v in refs.items()}
    # each tensor is bounded by its storage; the memo can still name one tensor under many keys
    total = sum(math.prod(r.size) * _itemsize(r.storage.dtype) for r in refs.values())
    limit = EXPANSION * os.path.getsize(path) + SLACK
    if total > limit:
        raise UnsafeFileError(f"{os.fspath(path)}: refusing to load: its tensors would materialise {total} "
                              f"bytes, more than {EXPANSION} x the file's size + 1 MiB ({limit})")
    return {k: materialize(v) for k, v in refs.items()}
