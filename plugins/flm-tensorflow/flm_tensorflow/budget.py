"""A bound on the variables Keras allocates while it rebuilds a model from a file's config.

Keras builds every layer from ``config.json`` before it reads a weight, so a layer config
declares its variables' sizes much as a torch manifest declares tensors: a few bytes of
``Dense(units=10**9)`` ask for gigabytes. A genuine model's variables are in its weights
member, plus optimizer slots Keras may create fresh, so while a load runs, every variable
Keras initialises is charged against a budget derived from the archive's size, before its
initializer allocates anything.

The hook wraps the backend Variable's ``_initialize_with_initializer`` once per process; it
charges only inside :func:`variable_budget` (a context variable), so other threads and
models built outside a load are untouched.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import os
import threading
from collections.abc import Iterator
from typing import Any

import flm_core
from flm_core import FLMError, FormatError

FACTOR = 4  # weights, plus Adam's two slots and a fresh copy while loading
FLOOR = 256 * 1024 * 1024
BUDGET_ENV = "FLM_TENSORFLOW_MAX_VARIABLE_BYTES"
LimitError: type[FLMError] = getattr(flm_core, "LimitError", FormatError)
ITEMSIZES = {"bfloat16": 2, "float8_e4m3fn": 1, "float8_e5m2": 1, "int4": 1, "uint4": 1}

_left: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "flm_tensorflow_variable_budget", default=None)
_installed: set[type] = set()
_lock = threading.Lock()


def limit_for(archive_bytes: int) -> int:
    text = os.environ.get(BUDGET_ENV, "")
    if text:
        try:
            return int(text)
        except ValueError as exc:
            raise flm_core.OptionError(f"{BUDGET_ENV}={text!r} is not a number of bytes") from exc
    return max(FLOOR, FACTOR * archive_bytes)


@contextlib.contextmanager
def variable_budget(limit: int) -> Iterator[None]:
    """Charge every Keras variable initialised in this context against ``limit`` bytes."""
    import keras

    _install(keras.Variable)
    token = _left.set([limit])
    try:
        yield
    finally:
        _left.reset(token)


def _install(cls: type) -> None:
    with _lock:
        if cls in _installed:
            return
        original = cls._initialize_with_initializer  # type: ignore[attr-defined]

        @functools.wraps(original)
        def charged(self: Any, initializer: Any) -> Any:
            _charge(getattr(self, "_shape", None), getattr(self, "_dtype", None))
            return original(self, initializer)

        cls._initialize_with_initializer = charged  # type: ignore[attr-defined]
        _installed.add(cls)


def _charge(shape: Any, dtype: Any) -> None:
    left = _left.get()
    if left is None or shape is None:
        return
    dims = [int(d) for d in shape if d is not None]
    size = math.prod(dims) * _itemsize(str(dtype))
    left[0] -= size
    if left[0] < 0:
        raise LimitError(
            f"the Keras config declares a variable of shape {tuple(shape)} ({dtype}) past the "
            f"budget for this file's size; {BUDGET_ENV} sets another")


def _itemsize(dtype: str) -> int:
    if dtype in ITEMSIZES:
        return ITEMSIZES[dtype]
    import numpy as np

    try:
        return int(np.dtype(dtype).itemsize)
    except TypeError:
        return 8
