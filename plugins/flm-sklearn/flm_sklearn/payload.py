"""The sklearn payload: a pickle (protocol 5) with its large arrays as out-of-band buffers.

Layout, little-endian::

    magic "FSKL" | version u16 | reserved u16 | pickle size u64 | buffer count u64
    buffer sizes: count x u64
    pickle bytes
    buffer bytes, one after another

Buffers are written straight from the estimator's arrays (no copy) with their itemsize, so
the core byte-shuffles float and int data before compressing it.
"""

from __future__ import annotations

import copy
import io
import pickle
import struct
from collections.abc import Iterable
from typing import Any, Literal

from flm_core import FormatError, Metadata, OptionError, Payload
from flm_sklearn.params import describe_params
from flm_sklearn.safety import RestrictedUnpickler, trusted_names

MAGIC = b"FSKL"
VERSION = 1
HEADER = struct.Struct("<4sHHQQ")
SIZE = struct.Struct("<Q")
# What a file may make us allocate ahead of the bytes actually arriving: a header that lies
# about sizes then costs at most this much beyond the data it really holds.
GROW_STEP = 64 * 1024 * 1024
_CAST: dict[int, Literal["H", "I", "Q"]] = {2: "H", 4: "I", 8: "Q"}


def _buffer_view(buffer: pickle.PickleBuffer) -> memoryview:
    """The buffer's bytes in memory order, keeping its itemsize for the shuffle filter."""
    itemsize = memoryview(buffer).itemsize
    try:
        raw = buffer.raw()
    except BufferError:  # neither C- nor F-contiguous: pickle would copy it too
        return memoryview(memoryview(buffer).tobytes())
    if itemsize in _CAST and raw.nbytes % itemsize == 0:
        return raw.cast(_CAST[itemsize])
    return raw


def _scalar_reduce(value: Any) -> tuple[type, tuple[Any]]:
    return type(value), (value.item(),)


class _ScalarList(list):  # type: ignore[type-arg]
    """Marks, in a shallow copy of the estimator, a list of same-typed numpy scalars."""

    __slots__ = ()


def _scalar_list_reduce(values: list[Any]) -> tuple[type, tuple[Any]]:
    import numpy

    # list(array) gives back the same scalars of the same type, from one out-of-band buffer
    return list, (numpy.array(values, dtype=type(values[0])),)


def _compact(model: Any) -> Any:
    """The estimator, or a shallow copy of it whose long lists of numpy scalars (an MLP's
    ``loss_curve_``: 1,400 of them for the seed's XOR model) pickle as one array each."""
    import numpy

    state = getattr(model, "__dict__", None)
    if not isinstance(state, dict):
        return model
    kinds = (numpy.float64, numpy.float32, numpy.int64, numpy.int32)
    lists = {
        name: value for name, value in state.items()
        if type(value) is list and len(value) >= 16 and type(value[0]) in kinds
        and all(type(item) is type(value[0]) for item in value)
    }
    if not lists:
        return model
    clone = copy.copy(model)
    for name, value in lists.items():
        clone.__dict__[name] = _ScalarList(value)
    return clone


def _dispatch_table() -> dict[type, Any]:
    """numpy scalars pickle through numpy's generic reducer (a dtype and a byte string each):
    fitted estimators hold thousands of them (``MLPClassifier.loss_curve_``), which made them
    most of a small model's pickle time and size. ``float64(x.item())`` rebuilds them exactly."""
    import copyreg

    import numpy

    table = dict(copyreg.dispatch_table)
    for scalar in (numpy.float64, numpy.float32, numpy.int64, numpy.int32, numpy.bool_):
        table[scalar] = _scalar_reduce
    table[_ScalarList] = _scalar_list_reduce
    return table


def dump(model: Any) -> Payload:
    buffers: list[pickle.PickleBuffer] = []
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=5, buffer_callback=buffers.append)
    pickler.dispatch_table = _dispatch_table()
    pickler.dump(_compact(model))
    data = out.getbuffer()
    views = [_buffer_view(b) for b in buffers]

    def write(sink: io.RawIOBase) -> None:
        sink.write(HEADER.pack(MAGIC, VERSION, 0, len(data), len(views)))
        sink.write(b"".join(SIZE.pack(v.nbytes) for v in views))
        sink.write(data)
        for view in views:
            sink.write(view)

    cls = type(model)
    return Payload(
        write=write,
        info=describe_params(model),
        obj=f"{cls.__module__}.{cls.__qualname__}",
    )


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


def load(
    stream: io.BufferedIOBase,
    meta: Metadata | None,
    *,
    trusted: Iterable[Any] = (),
    unsafe: bool = False,
) -> Any:
    """Rebuild the model; only allowlisted globals unless the caller trusts more."""
    if not isinstance(unsafe, bool):
        raise OptionError(f"sklearn load: unsafe must be True or False, not {unsafe!r}")
    names = trusted_names(trusted)
    magic, version, reserved, pickle_size, count = HEADER.unpack(
        read_exact(stream, HEADER.size, "header")
    )
    if magic != MAGIC or version != VERSION or reserved:
        raise FormatError(
            f"not a sklearn payload this plugin reads (magic {magic!r}, version {version})"
        )
    sizes = [s for (s,) in SIZE.iter_unpack(read_exact(stream, count * SIZE.size, "sizes"))]
    data = read_exact(stream, pickle_size, "pickle")
    buffers = [read_exact(stream, size, f"buffer {i}") for i, size in enumerate(sizes)]
    if stream.read(1):
        raise FormatError("the sklearn payload has bytes after its last buffer")

    file = io.BytesIO(data)
    unpickler = (
        pickle.Unpickler(file, buffers=buffers)
        if unsafe
        else RestrictedUnpickler(file, buffers=buffers, trusted=names)
    )
    try:
        model = unpickler.load()
    except (pickle.UnpicklingError, EOFError) as exc:
        raise FormatError(f"the sklearn payload's pickle is malformed: {exc}") from exc
    if file.tell() != len(data):
        raise FormatError("the sklearn payload's pickle ends before its recorded size")
    return model
