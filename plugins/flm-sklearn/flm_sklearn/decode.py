"""Load side: the JSON tree and the data region become the estimator.

Every node's keys are checked against its kind, every array against the region before a
view is made, every class against the allowlist before its module is imported. Objects are
made with ``cls.__new__`` and get their state through the class's own ``__setstate__`` (or
the new instance's ``__dict__``); nothing the file names is ever called.
"""

from __future__ import annotations

import math
import struct
from typing import Any

from flm_core import FormatError
from flm_sklearn import checks, crosschecks, schema

_COPY_BELOW = 4096  # small arrays are copied out so the region can be freed once trees copy theirs

_KEYS: dict[str, frozenset[str]] = {
    kind: frozenset(keys.split()) | {"$"} for kind, keys in {
        "float": "hex", "tuple": "items", "set": "items", "frozenset": "items",
        "dict": "keys values", "complex": "real imag", "slice": "start stop step",
        "bytes": "hex", "scalar": "dtype hex text", "scalars": "array",
        "array": "id dtype shape order offset nbytes",
        "records": "id kind fields shape offset nbytes", "objects": "id shape items",
        "strings": "id dtype shape items", "dtype": "str", "type": "name",
        "function": "name", "object": "id class args state items",
        "random_state": "id state", "generator": "bit_generator state",
        "sparse": "class shape data indices indptr row col", "ref": "id",
    }.items()
}
_REQUIRED = {"scalar": {"dtype"}, "object": {"id", "class"}, "sparse": {"class", "shape", "data"}}


def fail(path: str, what: str) -> FormatError:
    return FormatError(f"the sklearn payload is malformed at {path}: {what}")


def integer(value: Any, path: str, low: int = 0, high: int = 2**62) -> int:
    if type(value) is not int or not low <= value <= high:
        raise fail(path, f"expected an integer in [{low}, {high}], got {value!r:.60}")
    return value


def shape_of(value: Any, path: str) -> tuple[tuple[int, ...], int]:
    """A shape and its element count, with the count bounded before anything is allocated."""
    if type(value) is not list or len(value) > schema.MAX_NDIM:
        raise fail(path, f"a shape must be a list of at most {schema.MAX_NDIM} integers")
    dims = tuple(integer(n, path) for n in value)
    count = math.prod(dims)
    if count > 2**62:
        raise fail(path, f"shape {list(dims)} is too large")
    return dims, count


class Decoder:
    def __init__(self, region: memoryview, trusted: frozenset[str], unsafe: bool) -> None:
        import numpy

        self.np = numpy
        self.region = region
        self.trusted = trusted
        self.unsafe = unsafe
        self.table: list[Any] = []
        self.classes: dict[str, type] = {}  # a forest names the same few classes 50 times

    def decode(self, node: Any, path: str = "model", depth: int = 0) -> Any:
        kind = type(node)
        if node is None or kind in (bool, str, int, float):
            return node
        if depth > schema.MAX_DEPTH:
            raise fail(path, f"nested deeper than {schema.MAX_DEPTH}")
        if kind is list:
            return [self.decode(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(node)]
        if kind is not dict:
            raise fail(path, f"unexpected JSON value {node!r:.60}")
        name = node.get("$")
        allowed = _KEYS.get(name) if isinstance(name, str) else None
        if allowed is None:
            raise fail(path, f"unknown node kind {name!r:.60}")
        if not allowed.issuperset(node) or not _REQUIRED.get(name, set()).issubset(node):
            raise fail(path, f"a {name} node with keys {sorted(node)!r:.200}")
        method = getattr(self, f"_{name}")
        return method(node, path, depth + 1)

    def _items(self, node: dict[str, Any], path: str, depth: int, key: str = "items") -> list[Any]:
        value = self.decode(node.get(key), f"{path}.{key}", depth)
        if type(value) is not list:
            raise fail(path, f"{key} must be a list")
        return value

    def _register(self, node: dict[str, Any], path: str, value: Any) -> Any:
        if node.get("id") != len(self.table):
            raise fail(path, f"ids must count up from 0; expected {len(self.table)}")
        self.table.append(value)
        return value

    def _ref(self, node: dict[str, Any], path: str, depth: int) -> Any:
        return self.table[integer(node.get("id"), path, 0, len(self.table) - 1)]

    def _float(self, node: dict[str, Any], path: str, depth: int) -> float:
        text = node.get("hex")
        if not isinstance(text, str) or len(text) != 16:
            raise fail(path, "a float is 16 hex digits")
        return float(struct.unpack("<d", bytes.fromhex(text))[0])

    def _tuple(self, node: dict[str, Any], path: str, depth: int) -> tuple[Any, ...]:
        return tuple(self._items(node, path, depth))

    def _set(self, node: dict[str, Any], path: str, depth: int) -> set[Any]:
        return set(checks.hashable_items(self._items(node, path, depth), path))

    def _frozenset(self, node: dict[str, Any], path: str, depth: int) -> frozenset[Any]:
        return frozenset(checks.hashable_items(self._items(node, path, depth), path))

    def _dict(self, node: dict[str, Any], path: str, depth: int) -> dict[Any, Any]:
        keys = checks.hashable_items(self._items(node, path, depth, "keys"), path)
        values = self._items(node, path, depth, "values")
        if len(keys) != len(values):
            raise fail(path, "a dict needs as many values as keys")
        return dict(zip(keys, values, strict=True))

    def _complex(self, node: dict[str, Any], path: str, depth: int) -> complex:
        real, imag = (self.decode(node.get(k), path, depth) for k in ("real", "imag"))
        if type(real) not in (int, float) or type(imag) not in (int, float):
            raise fail(path, "a complex needs real and imaginary numbers")
        return complex(real, imag)

    def _slice(self, node: dict[str, Any], path: str, depth: int) -> slice:
        parts = [node.get(k) for k in ("start", "stop", "step")]
        if any(p is not None and type(p) is not int for p in parts):
            raise fail(path, "a slice holds integers or nulls")
        return slice(*parts)

    def _bytes(self, node: dict[str, Any], path: str, depth: int) -> bytes:
        text = node.get("hex")
        if not isinstance(text, str):
            raise fail(path, "bytes are a hex string")
        return bytes.fromhex(text)

    def _scalar(self, node: dict[str, Any], path: str, depth: int) -> Any:
        np, dtype = self.np, node["dtype"]
        if dtype in ("str", "bytes"):
            text = node.get("text")
            if not isinstance(text, str):
                raise fail(path, "a text scalar needs its text")
            return np.str_(text) if dtype == "str" else np.bytes_(text.encode("latin-1"))
        if dtype not in schema.DTYPES:
            raise fail(path, f"dtype {dtype!r:.40} is not a numeric or bool dtype")
        text = node.get("hex")
        size = np.dtype(dtype).itemsize
        if not isinstance(text, str) or len(text) != 2 * size:
            raise fail(path, f"a {dtype} scalar is {2 * size} hex digits")
        return checks.bools(np.frombuffer(bytes.fromhex(text), dtype=dtype), path)[0]

    def _scalars(self, node: dict[str, Any], path: str, depth: int) -> list[Any]:
        array = self.decode(node.get("array"), path, depth)
        if not isinstance(array, self.np.ndarray) or array.ndim != 1 or array.dtype.hasobject:
            raise fail(path, "scalars come from a one-dimensional numeric array")
        return list(array)

    def _view(self, node: dict[str, Any], path: str, dtype: Any, count: int) -> Any:
        offset = integer(node.get("offset"), path, 0, len(self.region))
        nbytes = integer(node.get("nbytes"), path)
        if nbytes != count * dtype.itemsize or offset + nbytes > len(self.region):
            raise fail(path, f"{count} items of {dtype.itemsize} bytes at {offset} do not fit "
                       f"a data region of {len(self.region)} bytes (nbytes {nbytes})")
        if offset % schema.ALIGN:
            raise fail(path, f"offset {offset} is not a multiple of {schema.ALIGN}")
        array = self.np.frombuffer(self.region, dtype=dtype, count=count, offset=offset)
        return array.copy() if nbytes < _COPY_BELOW else array

    def _array(self, node: dict[str, Any], path: str, depth: int) -> Any:
        dtype = node.get("dtype")
        if dtype not in schema.DTYPES:
            raise fail(path, f"dtype {dtype!r:.40} is not a numeric or bool dtype")
        dims, count = shape_of(node.get("shape"), path)
        order = node.get("order")
        if order not in ("C", "F"):
            raise fail(path, "order must be C or F")
        flat = checks.bools(self._view(node, path, self.np.dtype(dtype), count), path)
        array = flat.reshape(dims) if order == "C" else flat.reshape(dims[::-1]).T
        return self._register(node, path, array)

    def _records(self, node: dict[str, Any], path: str, depth: int) -> Any:
        dtype = schema.record_dtype(node.get("kind"))
        if node.get("fields") != list(dtype.names):
            raise fail(path, f"record fields {node.get('fields')!r:.200} are not this "
                       f"scikit-learn's {list(dtype.names)}")
        dims, count = shape_of(node.get("shape"), path)
        if len(dims) != 1:
            raise fail(path, "records are one-dimensional")
        array = self._view(node, path, dtype, count)
        checks.records(node["kind"], array, path)
        return self._register(node, path, array)

    def _objects(self, node: dict[str, Any], path: str, depth: int) -> Any:
        dims, count = shape_of(node.get("shape"), path)
        items = node.get("items")
        if type(items) is not list or len(items) != count:
            raise fail(path, f"an object array of {count} items lists {len(items or ())}")
        array = self.np.empty(count, dtype=object)
        self._register(node, path, None)
        slot = len(self.table) - 1
        for i, item in enumerate(items):
            array[i] = self.decode(item, f"{path}[{i}]", depth)
        shaped = array.reshape(dims)
        self.table[slot] = shaped
        return shaped

    def _strings(self, node: dict[str, Any], path: str, depth: int) -> Any:
        dtype = node.get("dtype")
        if not isinstance(dtype, str) or not schema.STRING_DTYPE.fullmatch(dtype):
            raise fail(path, f"{dtype!r:.40} is not a text dtype")
        dims, count = shape_of(node.get("shape"), path)
        items = node.get("items")
        if type(items) is not list or len(items) != count or count > schema.MAX_STRING_ITEMS:
            raise fail(path, f"a text array of {count} items lists {len(items or ())}")
        if not all(type(item) is str for item in items):
            raise fail(path, "a text array holds strings")
        np = self.np
        width = np.dtype(dtype).itemsize
        longest = max((len(item) for item in items), default=0) * (4 if "U" in dtype else 1)
        if width > max(longest, 4) * 2 + 64:  # a wide dtype over short strings: amplification
            raise fail(path, f"dtype {dtype} is far wider than its longest string")
        if "S" in dtype:
            array = np.array([item.encode("latin-1") for item in items], dtype=dtype)
        else:
            array = np.array(items, dtype=dtype)
        return self._register(node, path, array.reshape(dims))

    def _dtype(self, node: dict[str, Any], path: str, depth: int) -> Any:
        text = node.get("str")
        if not isinstance(text, str) or not schema.DTYPE_VALUE.fullmatch(text):
            raise fail(path, f"dtype {text!r:.40} is not one this loader makes")
        return self.np.dtype(text)

    def _type(self, node: dict[str, Any], path: str, depth: int) -> type:
        return schema.resolve_type(node.get("name"), self.trusted, self.unsafe)

    def _function(self, node: dict[str, Any], path: str, depth: int) -> Any:
        return schema.resolve_function(node.get("name"))

    def _random_state(self, node: dict[str, Any], path: str, depth: int) -> Any:
        generator = self._register(node, path, self.np.random.RandomState(0))
        state = self.decode(node.get("state"), path, depth)
        checks.random_state(state, path)
        generator.set_state(state)
        return generator

    def _generator(self, node: dict[str, Any], path: str, depth: int) -> Any:
        name = node.get("bit_generator")
        if name not in schema.BIT_GENERATORS:
            raise fail(path, f"unknown bit generator {name!r:.40}")
        bits = getattr(self.np.random, name)(0)
        state = self.decode(node.get("state"), path, depth)
        if type(state) is not dict or state.get("bit_generator") != name:
            raise fail(path, "a generator state names its bit generator")
        bits.state = state
        return self.np.random.Generator(bits)

    def _sparse(self, node: dict[str, Any], path: str, depth: int) -> Any:
        import scipy.sparse

        name = node["class"]
        if name not in schema.SPARSE_CLASSES or not hasattr(scipy.sparse, name):
            raise fail(path, f"unknown sparse class {name!r:.40}")
        shape, _ = shape_of(node["shape"], path)
        parts = ("data", "row", "col") if name.startswith("coo") else ("data", "indices", "indptr")
        if set(node) - {"$", "class", "shape"} != set(parts):
            raise fail(path, f"a {name} holds exactly {', '.join(parts)}")
        arrays = [self.decode(node[p], f"{path}.{p}", depth) for p in parts]
        checks.sparse(name[:3], shape, arrays, path)
        cls = getattr(scipy.sparse, name)
        if name.startswith("coo"):
            return cls((arrays[0], (arrays[1], arrays[2])), shape=shape, copy=False)
        return cls(tuple(arrays), shape=shape, copy=False)

    def _object(self, node: dict[str, Any], path: str, depth: int) -> Any:
        name = node["class"]
        cls = self.classes.get(name) if type(name) is str else None
        if cls is None:
            cls = schema.resolve_class(name, self.trusted, self.unsafe)
            self.classes[name] = cls
        args = self._items(node, path, depth, "args") if "args" in node else []
        checks.arguments(cls, args, path)
        instance = cls.__new__(cls, *args)
        self._register(node, path, instance)
        if "state" in node:
            state = self.decode(node["state"], path, depth)
            checks.state(cls, args, state, path)
            if hasattr(cls, "__setstate__"):
                instance.__setstate__(state)
            else:
                checks.plain_state(state, path)
                instance.__dict__.update(state)
        if "items" in node:
            items = self.decode(node["items"], f"{path}.items()", depth)
            if not isinstance(instance, dict) or type(items) is not dict:
                raise fail(path, "only a dict subclass holds items")
            dict.update(instance, items)
        crosschecks.built(instance, path)
        return instance
