"""Inputs that once escaped the loader as a foreign exception or were mishandled, kept as
regression cases for test_sklearn_fuzz.py: each builds the payload bytes it needs."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import sklearn_payloads as hostile


def _document(root: object) -> bytes:
    return hostile.frame(json.dumps(hostile.document(root)).encode())


def kernel_density_tree() -> bytes:
    """KernelDensity's ``tree_`` is a KDTree: the tree cross-check raised AttributeError."""
    from sklearn.neighbors import KernelDensity

    return hostile.raw(KernelDensity().fit(np.random.default_rng(0).random((20, 2))))


def empty_array_at_region_end() -> bytes:
    """A zero-length array whose aligned offset lay past the region's end."""
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
    model.extra_ = np.zeros((0, 3))
    return hostile.raw(model)


def ids_out_of_order() -> bytes:
    """An object's id given before its constructor arguments' ids."""
    return _document({"$": "tuple", "items": [
        {"$": "array", "id": 1, "dtype": "<f8", "shape": [0], "order": "C", "offset": 0,
         "nbytes": 0}]})


def ref_to_a_later_id() -> bytes:
    return _document([{"$": "ref", "id": 3}])


def huge_int_literal() -> bytes:
    """json raises ValueError past Python's int digit limit."""
    text = b'{"format": "flm-sklearn/2", "root": ' + b"9" * 6000 + b"}"
    return hostile.frame(text)


def deep_nesting() -> bytes:
    return hostile.frame(b'{"format": "flm-sklearn/2", "root": ' + b"[" * 200_000)


def object_new_with_args_on_a_python_class() -> bytes:
    """object.__new__ refuses arguments with a TypeError."""
    return _document({"$": "object", "id": 0,
                      "class": "sklearn.linear_model._logistic.LogisticRegression",
                      "args": [1, 2]})


def set_state_with_a_list() -> bytes:
    return _document({"$": "object", "id": 0,
                      "class": "sklearn.linear_model._logistic.LogisticRegression",
                      "state": [1, 2]})


CORPUS: dict[str, Callable[[], bytes]] = {f.__name__: f for f in (
    kernel_density_tree, empty_array_at_region_end, ids_out_of_order, ref_to_a_later_id,
    huge_int_literal, deep_nesting, object_new_with_args_on_a_python_class,
    set_state_with_a_list)}
