"""The pickled payload (format version 1): written only with ``unsafe_pickle=True``, read
only with ``unsafe=True``. Plain ``pickle``: whoever wrote the file chooses what runs.

After the header come one u64 size per out-of-band buffer, the pickle, then the buffers.
"""

from __future__ import annotations

import copy
import io
import pickle
from collections.abc import Callable
from typing import Any, Literal

from flm_core import FormatError

_CAST: dict[int, Literal["H", "I", "Q"]] = {2: "H", 4: "I", 8: "Q"}
Reader = Callable[[io.BufferedIOBase, int, str], bytearray]


def buffer_view(buffer: pickle.PickleBuffer) -> memoryview:
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

    return list, (numpy.array(values, dtype=type(values[0])),)


def _compact(model: Any) -> Any:
    """A shallow copy whose long lists of numpy scalars pickle as one array each."""
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
    import copyreg

    import numpy

    table = dict(copyreg.dispatch_table)
    for scalar in (numpy.float64, numpy.float32, numpy.int64, numpy.int32, numpy.bool_):
        table[scalar] = _scalar_reduce
    table[_ScalarList] = _scalar_list_reduce
    return table


def writer(model: Any) -> Callable[[io.RawIOBase], None]:
    from flm_sklearn.payload import HEADER, MAGIC, PICKLE_VERSION, SIZE

    buffers: list[pickle.PickleBuffer] = []
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=5, buffer_callback=buffers.append)
    pickler.dispatch_table = _dispatch_table()
    try:
        pickler.dump(_compact(model))
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        from flm_sklearn.encode import NotRepresentableError

        raise NotRepresentableError(f"pickle cannot write this model either: {exc}") from exc
    data = out.getbuffer()
    views = [buffer_view(b) for b in buffers]

    def write(sink: io.RawIOBase) -> None:
        sink.write(HEADER.pack(MAGIC, PICKLE_VERSION, 0, len(data), len(views)))
        sink.write(b"".join(SIZE.pack(v.nbytes) for v in views))
        sink.write(data)
        for view in views:
            sink.write(view)

    return write


def load(stream: io.BufferedIOBase, pickle_size: int, count: int, read_exact: Reader) -> Any:
    from flm_sklearn.payload import SIZE

    sizes = [s for (s,) in SIZE.iter_unpack(read_exact(stream, count * SIZE.size, "sizes"))]
    data = read_exact(stream, pickle_size, "pickle")
    buffers = [read_exact(stream, size, f"buffer {i}") for i, size in enumerate(sizes)]
    if stream.read(1):
        raise FormatError("the sklearn payload has bytes after its last buffer")
    file = io.BytesIO(data)
    try:
        model = pickle.Unpickler(file, buffers=buffers).load()
    except (pickle.UnpicklingError, EOFError) as exc:
        raise FormatError(f"the sklearn payload's pickle is malformed: {exc}") from exc
    if file.tell() != len(data):
        raise FormatError("the sklearn payload's pickle ends before its recorded size")
    return model
