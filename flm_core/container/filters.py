"""The byte-shuffle filter: group byte k of every element together before compression.

Float weights compress poorly byte-interleaved (sign/exponent bytes mixed with noisy
mantissa bytes); transposed into byte planes they compress markedly better. numpy is used
when it is already importable; otherwise a slower pure-Python path does the same.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from types import ModuleType


@cache
def _numpy() -> ModuleType | None:
    if importlib.util.find_spec("numpy") is None:
        return None
    import numpy

    module: ModuleType = numpy
    return module


def shuffle(data: memoryview, itemsize: int) -> bytes:
    np = _numpy()
    if np is not None:
        return np.frombuffer(data, np.uint8).reshape(-1, itemsize).T.tobytes()  # type: ignore[no-any-return]
    return b"".join(bytes(data[i::itemsize]) for i in range(itemsize))


def unshuffle(data: bytes | bytearray | memoryview, itemsize: int) -> bytearray | memoryview:
    np = _numpy()
    if np is not None:
        planes = np.frombuffer(data, np.uint8).reshape(itemsize, -1)
        out = np.empty((planes.shape[1], itemsize), np.uint8)
        for i in range(itemsize):  # plane by plane: ~6x faster than a transposed copy
            out[:, i] = planes[i]
        return memoryview(out).cast("B")
    out = bytearray(len(data))
    plane = len(data) // itemsize
    view = memoryview(data)
    for i in range(itemsize):
        out[i::itemsize] = view[i * plane : (i + 1) * plane]
    return out


def unshuffle_into(data: bytes | bytearray | memoryview, itemsize: int, out: memoryview) -> None:
    """Unshuffle ``data`` straight into ``out``, a writable buffer of the same length."""
    np = _numpy()
    if np is None:
        out[:] = memoryview(unshuffle(data, itemsize)).cast("B")
        return
    planes = np.frombuffer(data, np.uint8).reshape(itemsize, -1)
    target = np.frombuffer(out, np.uint8).reshape(-1, itemsize)
    for i in range(itemsize):  # plane by plane, as unshuffle
        target[:, i] = planes[i]
