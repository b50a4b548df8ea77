"""Restricted unpickling, the base of every FaceX reader of foreign pickles: only allow-listed globals
resolve, and as the memo lets ``GET`` push one large ``bytes`` again for two bytes of file (a 17 KB .bin
unpacked to 29.5 MB), every bytes/str pushed counts against 4x the file size + 1 MiB."""
from __future__ import annotations

import io
import pickle
import struct
from typing import Any, BinaryIO, Callable, ClassVar, Mapping

from ..errors import DataError

MIB = 1 << 20


class UnsafePickleError(DataError):
    """A pickle that names a global off the allow-map, uses persistent ids, or makes more than its budget."""


def _counted(load: Callable[[Any], None]) -> Callable[[Any], None]:
    def run(self: SafeUnpickler) -> None:
        load(self)
        if self.stack and isinstance(self.stack[-1], (bytes, bytearray, str)):
            self.spent += len(self.stack[-1])
            if self.spent > self.budget:
                raise self.error(f"{self.source}: refusing to load: the pickle builds more than {self.budget} "
                                 f"bytes of strings (4 x its {self.size} bytes + 1 MiB), e.g. by re-using a "
                                 "large object from its memo")
    return run


def _load_bytearray8(self: SafeUnpickler) -> None:
    # pickle's own allocates the announced length before reading; read first, so the cap applies
    (length,) = struct.unpack("<Q", self.read(8))
    self.append(bytearray(self.read(length)))


# Opcodes after which the top of the stack can be a bytes/str the file built or re-used.
_MAKERS = ("STRING", "BINSTRING", "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "UNICODE",
           "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "GET", "BINGET", "LONG_BINGET", "DUP", "REDUCE",
           "NEWOBJ", "NEWOBJ_EX", "OBJ", "INST")
_TABLE = pickle._Unpickler.dispatch  # type: ignore[attr-defined]


class SafeUnpickler(pickle._Unpickler):  # type: ignore[name-defined,misc]
    """Unpickles data only; subclasses set :attr:`allowed` (``(module, name)`` → object) and :attr:`error`
    (pure-Python unpickler: its opcode table can be wrapped, the C one's cannot)."""

    allowed: ClassVar[Mapping[tuple[str, str], Any]] = {}
    error: ClassVar[type[UnsafePickleError]] = UnsafePickleError
    dispatch = {**_TABLE, **{getattr(pickle, op)[0]: _counted(_TABLE[getattr(pickle, op)[0]]) for op in _MAKERS},
                pickle.BYTEARRAY8[0]: _counted(_load_bytearray8)}

    def __init__(self, file: BinaryIO, source: Any, *, encoding: str = "ASCII") -> None:
        super().__init__(file, encoding=encoding)
        here = file.tell()
        self.size = file.seek(0, io.SEEK_END)
        file.seek(here)
        self.source, self._file, self.budget, self.spent = str(source), file, 4 * self.size + MIB, 0
        self._file_read = self._read  # every read of the file, inside frames or not, goes through _read

    def _read(self, n: int) -> bytes:
        if n > self.size - self._file.tell():
            raise self.error(f"{self.source}: refusing to load: the pickle announces {n} bytes, more than "
                             f"the file holds after byte {self._file.tell()}")
        return self._file.read(n)

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.allowed:
            raise self.error(f"{self.source}: refusing to load: the pickle asks for the global "
                             f"{module}.{name}, which this reader does not allow")
        return self.allowed[(module, name)]

    def persistent_load(self, pid: Any) -> Any:
        raise self.error(f"{self.source}: refusing to load: the pickle uses persistent ids")
