"""The sklearn payload framing, little-endian::

    magic "FSKL" | version u16 | reserved u16 | first size u64 | second size u64

Version 2, the default: the first size is the JSON manifest's (schema.py), the second the
data region's, where every numeric array lies at a 16-byte aligned offset. Arrays come back
as numpy views of the region, written from the estimator's own memory.

Version 1: a protocol-5 pickle with out-of-band buffers (first size: the pickle, second: the
buffer count, then one u64 size per buffer). flm-sklearn 0.1 wrote it for every model; now
only ``dump(..., unsafe_pickle=True)`` does, and only ``load(..., unsafe=True)`` reads it.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Iterable
from typing import Any

from flm_core import FLMError, FormatError, Metadata, OptionError, Payload, UnsafeModelError
from flm_sklearn import schema
from flm_sklearn.params import describe_params

MAGIC = b"FSKL"
DATA_VERSION = 2
PICKLE_VERSION = 1
VERSION = DATA_VERSION
HEADER = struct.Struct("<4sHHQQ")
SIZE = struct.Struct("<Q")
FORMAT = "flm-sklearn/2"
PAYLOAD_INFO_KEY = "flm_sklearn.payload"  # meta.model.info records a pickled payload
# What a file may make us allocate ahead of the bytes actually arriving: a header that lies
# about sizes then costs at most this much beyond the data it really holds.
GROW_STEP = 64 * 1024 * 1024
_PAD = bytes(schema.ALIGN)


def dump(model: Any, *, unsafe_pickle: bool = False) -> Payload:
    """The model as data (JSON tree + buffers), or as a pickle when the caller opts in."""
    if not isinstance(unsafe_pickle, bool):
        raise OptionError(
            f"sklearn dump: unsafe_pickle must be True or False, not {unsafe_pickle!r}")
    cls = type(model)
    obj = f"{cls.__module__}.{cls.__qualname__}"
    info = describe_params(model)
    if unsafe_pickle:
        from flm_sklearn import legacy

        return Payload(write=legacy.writer(model), info={**info, PAYLOAD_INFO_KEY: "pickle"},
                       obj=obj)
    from flm_sklearn.encode import Encoder

    encoder = Encoder()
    root = encoder.encode(model)
    manifest = json.dumps({"format": FORMAT, "root": root}, separators=(",", ":"),
                          allow_nan=False).encode()
    buffers, size = encoder.buffers, encoder.size

    def write(sink: io.RawIOBase) -> None:
        sink.write(HEADER.pack(MAGIC, DATA_VERSION, 0, len(manifest), size))
        sink.write(manifest)
        position = 0
        for offset, view in buffers:
            if offset > position:
                sink.write(_PAD[: offset - position])
            sink.write(view)
            position = offset + view.nbytes
        if size > position:
            sink.write(_PAD[: size - position])

    return Payload(write=write, info=info, obj=obj)


def _fill(stream: io.BufferedIOBase, buffer: bytearray, start: int, what: str) -> None:
    with memoryview(buffer) as view:
        while start < len(buffer):
            with view[start:] as rest:
                got = stream.readinto(rest)
            if not got:
                raise FormatError(f"the sklearn payload ends inside its {what}")
            start += got


def read_exact(stream: io.BufferedIOBase, size: int, what: str) -> bytearray:
    """Read ``size`` bytes into one bytearray, growing it only as the data arrives."""
    buffer = bytearray(min(size, GROW_STEP))
    _fill(stream, buffer, 0, what)
    while len(buffer) < size:
        start = len(buffer)
        # bytes(n) is calloc'ed, so growing costs pages only as readinto fills them
        buffer += bytes(min(size - start, max(start, GROW_STEP)))
        _fill(stream, buffer, start, what)
    return buffer


def _address(buffer: bytearray) -> int:
    import numpy

    return int(numpy.frombuffer(buffer, dtype=numpy.uint8).ctypes.data)


def read_region(stream: io.BufferedIOBase, size: int) -> memoryview:
    """The data region at an ALIGN-aligned address. Up to GROW_STEP it is read in place;
    beyond, it grows only as bytes arrive (a lying size costs nothing) and is moved once."""
    if size > GROW_STEP:
        buffer = read_exact(stream, size, "data region")
        buffer += bytes(schema.ALIGN)
        shift = -_address(buffer) % schema.ALIGN
        if shift:
            import ctypes

            base = _address(buffer)
            ctypes.memmove(base + shift, base, size)
        return memoryview(buffer)[shift:shift + size]
    buffer = bytearray(size + schema.ALIGN)
    shift = -_address(buffer) % schema.ALIGN
    view = memoryview(buffer)[shift:shift + size]
    start = 0
    while start < size:
        got = stream.readinto(view[start:])
        if not got:
            raise FormatError("the sklearn payload ends inside its data region")
        start += got
    return view


def load(
    stream: io.BufferedIOBase,
    meta: Metadata | None,
    *,
    trusted: Iterable[Any] = (),
    unsafe: bool = False,
) -> Any:
    """Rebuild the model: every failure is an FLMError (FormatError, UnsafeModelError)."""
    if not isinstance(unsafe, bool):
        raise OptionError(f"sklearn load: unsafe must be True or False, not {unsafe!r}")
    names = schema.trusted_names(trusted)
    magic, version, reserved, first, second = HEADER.unpack(
        read_exact(stream, HEADER.size, "header"))
    if magic != MAGIC or version not in (DATA_VERSION, PICKLE_VERSION) or reserved:
        raise FormatError(
            f"not a sklearn payload this plugin reads (magic {magic!r}, version {version})")
    if version == PICKLE_VERSION:
        if not unsafe:
            raise UnsafeModelError(
                "this file holds a pickled sklearn payload (written by flm-sklearn 0.1, or "
                "with unsafe_pickle=True): loading it can run any code the file chose. Load it "
                "with flm_core.load(path, unsafe=True) only if you trust who wrote it; convert "
                "it once with flm_core.dump(flm_core.load(path, unsafe=True).model, new_path)")
        from flm_sklearn import legacy

        return legacy.load(stream, first, second, read_exact)
    if first > schema.MAX_MANIFEST:
        raise FormatError(f"the sklearn manifest declares {first} bytes, over the "
                          f"{schema.MAX_MANIFEST}-byte limit")
    manifest = read_exact(stream, first, "manifest")
    region = read_region(stream, second)
    if stream.read(1):
        raise FormatError("the sklearn payload has bytes after its data region")
    try:
        return _build(manifest, region, names, unsafe)
    except FLMError:
        raise
    except RecursionError as exc:
        raise FormatError("the sklearn manifest is nested too deeply") from exc
    except MemoryError as exc:
        raise FormatError("the sklearn payload asks for more memory than is available") from exc
    except Exception as exc:  # sklearn/numpy/scipy refusing the state: still a bad file
        raise FormatError(f"the sklearn payload does not rebuild a model: "
                          f"{type(exc).__name__}: {exc}"[:500]) from exc


def _build(manifest: bytearray, region: memoryview, trusted: frozenset[str], unsafe: bool) -> Any:
    from flm_sklearn.decode import Decoder

    try:
        document = json.loads(manifest)  # bytes: UTF-8 checked by json itself
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormatError(f"the sklearn manifest is not JSON: {exc}"[:300]) from exc
    if type(document) is not dict or set(document) != {"format", "root"}:
        raise FormatError("the sklearn manifest is an object with format and root")
    if document["format"] != FORMAT:
        raise FormatError(f"unknown sklearn payload format {document['format']!r:.60}")
    return Decoder(region, trusted, unsafe).decode(document["root"])

