"""Reading InsightFace verification ``.bin`` files without executing anything they contain.

A ``.bin`` is a pickle of ``(bins, issame_list)``: ``2N`` encoded images (consecutive items form a
pair) and ``N`` booleans. ``pickle.load`` on such a file would run whatever callable the file
names, so it is never used. Instead:

1. every opcode is checked against an allow-list of the opcodes that build bytes, strings, ints,
   bools, None, lists and tuples (plus the memo and framing opcodes), and
2. the file is loaded by :class:`DataOnlyUnpickler`, a :class:`facex_core.SafeUnpickler` that refuses
   every global but one and stops a file that builds more than 4x its size in bytes and strings
   (images shared through the memo: a 17 KB file would otherwise unpack to 29.5 MB).

The single global it resolves is ``_codecs.encode``: Python 3 writes ``bytes`` at pickle protocols
0-2 as ``_codecs.encode(text, 'latin1')``. It resolves to a local function that only latin-1
encodes a ``str`` and refuses anything else. Python 2 ``str`` items are read as ``bytes``
(``encoding='bytes'``, as InsightFace's loader does).
"""
from __future__ import annotations

import io
import pickle
import pickletools
from pathlib import Path
from typing import Any

from facex_core import SafeUnpickler, UnsafePickleError

#: Opcodes that build the data a .bin holds, and nothing that can call or import.
#: GLOBAL/STACK_GLOBAL/REDUCE are listed only because of the ``_codecs.encode`` route above;
#: ``find_class`` decides which global (if any) they may name.
ALLOWED_OPCODES = frozenset({
    "PROTO", "FRAME", "STOP", "MARK", "POP", "POP_MARK", "DUP",
    "NONE", "NEWTRUE", "NEWFALSE", "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4",
    "STRING", "BINSTRING", "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8",
    "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8",
    "EMPTY_LIST", "APPEND", "APPENDS", "LIST", "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3",
    "PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE", "GET", "BINGET", "LONG_BINGET",
    "GLOBAL", "STACK_GLOBAL", "REDUCE",
})
_DATA = "a verification .bin holds only bytes, strings, lists, tuples, bools and ints"


class BinFormatError(UnsafePickleError):
    """The file is not a safe, well-formed verification .bin; the message names the file."""


def _latin1_encode(text: Any, encoding: Any = "utf-8", *rest: Any) -> bytes:
    """What ``_codecs.encode`` does for the bytes Python 3 pickles at protocols 0-2, and no more."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1") or rest:
        raise pickle.UnpicklingError("_codecs.encode is only allowed as encode(str, 'latin1')")
    return text.encode("latin-1")


class DataOnlyUnpickler(SafeUnpickler):
    """An unpickler that imports nothing: every global but ``_codecs.encode`` is refused (see the
    module docstring), and so are persistent ids and files that build far more than they hold."""

    allowed = {("_codecs", "encode"): _latin1_encode, ("codecs", "encode"): _latin1_encode}
    error = BinFormatError

    def __init__(self, file: Any, source: str) -> None:
        super().__init__(file, source, encoding="bytes")


def _refuse_global(module: str, name: str, source: str) -> None:
    if (module, name) not in DataOnlyUnpickler.allowed:
        raise BinFormatError(f"{source}: refusing to load: the pickle asks for the global "
                             f"{module}.{name}; {_DATA}")


def check_opcodes(data: bytes, source: str) -> None:
    """Raise :class:`BinFormatError` at the first opcode outside :data:`ALLOWED_OPCODES` or the
    first global other than ``_codecs.encode`` (named in the message when the opcodes show it)."""
    strings: list[str] = []  # the last strings pushed: STACK_GLOBAL takes module and name from them
    try:
        for opcode, arg, pos in pickletools.genops(io.BytesIO(data)):
            if opcode.name not in ALLOWED_OPCODES:
                raise BinFormatError(f"{source}: refusing to load: pickle opcode {opcode.name} at "
                                     f"byte {pos}; {_DATA}")
            if opcode.name == "GLOBAL":
                _refuse_global(*str(arg).split(" ", 1), source)
            elif opcode.name == "STACK_GLOBAL" and len(strings) == 2:
                _refuse_global(*strings, source)
            if isinstance(arg, str) and opcode.name != "GLOBAL":
                strings = (strings + [arg])[-2:]
    except (ValueError, EOFError) as exc:
        if isinstance(exc, BinFormatError):
            raise
        raise BinFormatError(f"{source}: not a readable pickle ({exc})") from None


def _as_bytes(item: Any, index: int, source: str) -> bytes:
    if isinstance(item, (bytes, bytearray)):
        return bytes(item)
    if isinstance(item, str):  # a Python 2 str decoded as latin-1: one char per byte
        try:
            return item.encode("latin-1")
        except UnicodeEncodeError:
            raise BinFormatError(f"{source}: image {index} is text, not encoded image bytes") from None
    raise BinFormatError(f"{source}: image {index} is a {type(item).__name__}, not bytes")


def read_bin(path: str | Path) -> tuple[list[bytes], list[bool]]:
    """``(images, issame)`` of a verification .bin: ``2N`` encoded images and ``N`` labels."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: verification .bin not found") from None
    source = str(path)
    check_opcodes(data, source)
    try:
        obj = DataOnlyUnpickler(io.BytesIO(data), source).load()
    except BinFormatError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a format error of this file
        raise BinFormatError(f"{source}: cannot unpickle ({type(exc).__name__}: {exc})") from None
    if not (isinstance(obj, (tuple, list)) and len(obj) == 2
            and all(isinstance(part, (list, tuple)) for part in obj)):
        raise BinFormatError(f"{source}: expected a pickled (bins, issame_list) pair of lists")
    bins, issame = obj
    labels = []
    for k, value in enumerate(issame):
        if not isinstance(value, (bool, int)) or value not in (0, 1):
            raise BinFormatError(f"{source}: issame_list[{k}] is {value!r}, not a bool")
        labels.append(bool(value))
    if not labels:
        raise BinFormatError(f"{source}: issame_list is empty")
    if len(bins) != 2 * len(labels):
        raise BinFormatError(f"{source}: {len(bins)} images for {len(labels)} pairs; "
                             "expected two images per pair")
    return [_as_bytes(item, i, source) for i, item in enumerate(bins)], labels


def image_suffix(data: bytes) -> str | None:
    """``.jpg`` or ``.png`` from the magic bytes, ``None`` for anything else."""
    if data[:3] == b"\xff\xd8\xff":
        return ".jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return ".png"
    return None
