"""Dump side: an estimator becomes a JSON tree of typed nodes plus a list of raw buffers.

The walk refuses, naming the attribute path, anything the loader could only rebuild by
calling a function the file names: lambdas, unknown reducers, generic objects with custom
pickling. ``unsafe_pickle=True`` is the caller's way around that (see payload.py).
"""

from __future__ import annotations

import contextlib
import copyreg
import importlib
import struct
import types
from typing import Any, Literal

from flm_core import FLMError
from flm_sklearn import schema
from flm_sklearn.allowlist import CLASSES

_CAST: dict[int, Literal["H", "I", "Q"]] = {2: "H", 4: "I", 8: "Q"}
_SCALAR_LIST_MIN = 16  # a list this long of one numpy scalar type is written as one array


class NotRepresentableError(FLMError, TypeError):
    """The model holds something the data format cannot express; the message names its
    attribute path. ``flm_core.dump(model, path, unsafe_pickle=True)`` writes a pickle
    instead, which loads only with ``unsafe=True``."""


class Encoder:
    """One dump: ``encode(model)`` returns the tree; ``buffers`` and ``size`` the data."""

    def __init__(self) -> None:
        import numpy
        import scipy.sparse

        self.np = numpy
        self.sparse = scipy.sparse
        self.buffers: list[tuple[int, memoryview]] = []  # (offset, view)
        self.size = 0
        self.memo: dict[int, int] = {}
        self.keep: list[Any] = []  # memoised objects stay alive: their ids must not recur
        self._records: dict[str, Any] | None = None

    @property
    def records(self) -> dict[str, Any]:
        """The record dtypes by kind. Looked up at the first structured array: finding them
        imports sklearn.cluster and others (~100 ms), which most models never need."""
        if self._records is None:
            self._records = {
                kind: schema.record_dtype(kind) for kind in schema.RECORDS
                if _importable(schema.RECORDS[kind][0])
            }
        return self._records

    def fail(self, path: str, what: str) -> NotRepresentableError:
        return NotRepresentableError(
            f"{path}: {what}; the sklearn data format cannot hold it. Pass unsafe_pickle=True "
            "to flm_core.dump to write a pickle instead (it loads only with unsafe=True)")

    def _buffer(self, data: Any) -> tuple[int, int]:
        """Queue a C-contiguous array's memory; its offset in the data region."""
        offset = -(-self.size // schema.ALIGN) * schema.ALIGN
        if not data.nbytes:
            return 0, 0
        raw = memoryview(data).cast("B")  # C-contiguous by construction: no copy
        itemsize = data.dtype.itemsize
        if itemsize in _CAST and raw.nbytes % itemsize == 0:
            raw = raw.cast(_CAST[itemsize])  # the core byte-shuffles by itemsize
        self.buffers.append((offset, raw))
        self.size = offset + data.nbytes
        return offset, data.nbytes

    def _memo(self, value: Any) -> tuple[int, bool]:
        known = self.memo.get(id(value))
        if known is not None:
            return known, True
        self.memo[id(value)] = index = len(self.memo)
        self.keep.append(value)
        return index, False

    def encode(self, value: Any, path: str = "model", depth: int = 0) -> Any:
        if depth > schema.MAX_DEPTH:
            raise self.fail(path, f"nesting deeper than {schema.MAX_DEPTH} (a cycle of lists?)")
        kind = type(value)
        if value is None or kind in (bool, str):
            return value
        if kind is int:
            return value
        if kind is float:
            if value - value == 0:  # finite
                return value
            return {"$": "float", "hex": struct.pack("<d", value).hex()}
        if kind is list:
            return self._list(value, path, depth)
        if kind is tuple:
            return {"$": "tuple", "items": [
                self.encode(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]}
        if kind is dict:
            keys = list(value)
            return {"$": "dict", "keys": self.encode(keys, f"{path}.keys()", depth + 1),
                    "values": self._list(list(value.values()), path, depth, keys)}
        if kind in (set, frozenset):
            items = list(value)
            with contextlib.suppress(TypeError):  # same digest whatever the hash seed
                items.sort()
            return {"$": kind.__name__, "items": [
                self.encode(v, f"{path}{{}}", depth + 1) for v in items]}
        np = self.np
        if isinstance(value, np.ndarray):
            return self._array(value, path, depth)
        if isinstance(value, np.generic):
            return self._scalar(value, path)
        return self._other(value, path, depth)

    def _list(self, value: list[Any], path: str, depth: int,
              keys: list[Any] | None = None) -> Any:
        np = self.np
        if len(value) >= _SCALAR_LIST_MIN:
            first = type(value[0])
            if (issubclass(first, np.generic) and np.dtype(first).str in schema.DTYPES
                    and all(type(v) is first for v in value)):
                return {"$": "scalars", "array": self._array(np.array(value, dtype=first),
                                                             path, depth)}
        names = keys if keys is not None else range(len(value))
        return [self.encode(v, f"{path}[{k!r}]", depth + 1)
                for k, v in zip(names, value, strict=True)]

    def _array(self, value: Any, path: str, depth: int) -> Any:
        np = self.np
        index, seen = self._memo(value)
        if seen:
            return {"$": "ref", "id": index}
        dtype = value.dtype
        shape = list(value.shape)
        if dtype.str in schema.DTYPES:
            order = "C"
            if value.flags.c_contiguous:
                data = value
            elif value.flags.f_contiguous:
                order, data = "F", value.T
            else:
                data = np.ascontiguousarray(value)
            offset, nbytes = self._buffer(data)
            return {"$": "array", "id": index, "dtype": dtype.str, "shape": shape,
                    "order": order, "offset": offset, "nbytes": nbytes}
        if dtype.names is not None:
            for kind, record in self.records.items():
                if dtype == record and value.ndim == 1:
                    offset, nbytes = self._buffer(np.ascontiguousarray(value))
                    return {"$": "records", "id": index, "kind": kind,
                            "fields": list(dtype.names), "shape": shape, "offset": offset,
                            "nbytes": nbytes}
            raise self.fail(path, f"a structured array of dtype {dtype}")
        if dtype.hasobject:
            flat = value.ravel(order="C")
            return {"$": "objects", "id": index, "shape": shape, "items": [
                self.encode(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(flat.tolist())]}
        if schema.STRING_DTYPE.fullmatch(dtype.str):
            items = value.ravel(order="C").tolist()
            if dtype.kind == "S":
                items = [v.decode("latin-1") for v in items]
            return {"$": "strings", "id": index, "dtype": dtype.str, "shape": shape,
                    "items": items}
        raise self.fail(path, f"an array of dtype {dtype}")

    def _scalar(self, value: Any, path: str) -> Any:
        dtype = value.dtype
        if dtype.str in schema.DTYPES:
            return {"$": "scalar", "dtype": dtype.str, "hex": value.tobytes().hex()}
        if dtype.kind == "U":
            return {"$": "scalar", "dtype": "str", "text": str(value)}
        if dtype.kind == "S":
            return {"$": "scalar", "dtype": "bytes", "text": bytes(value).decode("latin-1")}
        raise self.fail(path, f"a numpy scalar of dtype {dtype}")

    def _other(self, value: Any, path: str, depth: int) -> Any:
        np = self.np
        if isinstance(value, complex) and type(value) is complex:
            return {"$": "complex", "real": self.encode(value.real),
                    "imag": self.encode(value.imag)}
        if type(value) is slice:
            return {"$": "slice", "start": self.encode(value.start, path, depth + 1),
                    "stop": self.encode(value.stop, path, depth + 1),
                    "step": self.encode(value.step, path, depth + 1)}
        if type(value) is bytes:
            return {"$": "bytes", "hex": value.hex()}
        if isinstance(value, np.dtype):
            if not schema.DTYPE_VALUE.fullmatch(value.str) or value.names is not None:
                raise self.fail(path, f"the dtype {value}")
            return {"$": "dtype", "str": value.str}
        if isinstance(value, type):
            return {"$": "type", "name": self._type_name(value, path)}
        if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, np.ufunc,
                              types.MethodType)) or _is_numpy_function(value):
            name = schema.function_name(value)
            if name is None:
                raise self.fail(path, f"the function {_describe(value)} is not one of the "
                                "function references it may name")
            return {"$": "function", "name": name}
        if type(value) is np.random.RandomState:
            index, seen = self._memo(value)
            if seen:
                return {"$": "ref", "id": index}
            return {"$": "random_state", "id": index,
                    "state": self.encode(value.get_state(legacy=False), path, depth + 1)}
        if type(value) is np.random.Generator:
            bits = value.bit_generator
            if type(bits).__name__ not in schema.BIT_GENERATORS:
                raise self.fail(path, f"a generator on {type(bits).__name__}")
            return {"$": "generator", "bit_generator": type(bits).__name__,
                    "state": self.encode(bits.state, path, depth + 1)}
        if self.sparse.issparse(value):
            return self._sparse(value, path, depth)
        return self._object(value, path, depth)

    def _type_name(self, value: type, path: str) -> str:
        name = schema.type_name(value)
        if name in schema.TYPES or name in CLASSES:
            return name
        return self._class_name(value, path)

    def _class_name(self, cls: type, path: str) -> str:
        name = schema.class_path(cls)
        module = importlib.import_module(name.removesuffix(f".{cls.__qualname__}"))
        if "<" in name or getattr(module, cls.__qualname__, None) is not cls:
            raise self.fail(path, f"{name} cannot be imported by that name")
        return name

    def _sparse(self, value: Any, path: str, depth: int) -> Any:
        cls = type(value)
        if cls.__name__ not in schema.SPARSE_CLASSES or not cls.__module__.startswith("scipy."):
            raise self.fail(path, f"a sparse {cls.__name__}")
        node: dict[str, Any] = {"$": "sparse", "class": cls.__name__,
                                "shape": [int(n) for n in value.shape]}
        parts = ("data", "row", "col") if value.format == "coo" else ("data", "indices", "indptr")
        if value.format == "coo" and not hasattr(value, "row"):  # scipy's coo_array has coords
            raise self.fail(path, "a coo array without row/col")
        for part in parts:
            node[part] = self._array(self.np.asarray(getattr(value, part)), f"{path}.{part}",
                                     depth + 1)
        return node

    def _object(self, value: Any, path: str, depth: int) -> Any:
        known = self.memo.get(id(value))
        if known is not None:
            return {"$": "ref", "id": known}
        cls = type(value)
        try:
            reduced = value.__reduce_ex__(5)
        except Exception as exc:
            raise self.fail(path, f"a {cls.__qualname__} that cannot be reduced ({exc})") from exc
        if not isinstance(reduced, tuple) or len(reduced) < 2:
            raise self.fail(path, f"{_describe(value)} pickles as a global")
        func, args = reduced[0], reduced[1]
        state = reduced[2] if len(reduced) > 2 else None
        listitems = reduced[3] if len(reduced) > 3 else None
        dictitems = reduced[4] if len(reduced) > 4 else None
        sklearn_new = (getattr(func, "__name__", "") == "newObj"
                       and str(getattr(func, "__module__", "")).startswith("sklearn."))
        newobj = getattr(copyreg, "__newobj__")  # noqa: B009 - missing from typeshed
        if (func is newobj or sklearn_new) and args == (cls,):
            args = ()
        elif _cython_unpickle(func, cls) and len(args) == 3 and args[0] is cls:
            # Cython's automatic pickling (sklearn 1.3's loss classes): the fields' values,
            # which the class's own __setstate__ takes back; the checksum only guards layout
            state, args = args[2], ()
        elif func is not cls:
            raise self.fail(path, f"{_describe(value)} pickles through {_describe(func)}, "
                            "a function the loader would have to call")
        if listitems is not None:
            raise self.fail(path, f"{_describe(value)} is a list subclass")
        node: dict[str, Any] = {"$": "object", "id": -1, "class": self._class_name(cls, path)}
        if args:  # before the id: the loader needs them to make the instance
            node["args"] = [self.encode(a, f"{path}.<arg {i}>", depth + 1)
                            for i, a in enumerate(args)]
        node["id"], _ = self._memo(value)
        if state is not None:
            node["state"] = self._state(state, path, depth)
        if dictitems is not None:
            node["items"] = self.encode(dict(dictitems), f"{path}.items()", depth + 1)
        return node

    def _state(self, state: Any, path: str, depth: int) -> Any:
        if type(state) is dict:  # attribute names make the readable paths
            keys = list(state)
            return {"$": "dict", "keys": self.encode(keys, path, depth + 1), "values": [
                self.encode(state[k], f"{path}.{k}", depth + 1) for k in keys]}
        return self.encode(state, path, depth + 1)


def _cython_unpickle(func: Any, cls: type) -> bool:
    return (getattr(func, "__name__", "") == f"__pyx_unpickle_{cls.__name__}"
            and str(getattr(func, "__module__", "")).startswith("sklearn."))


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _is_numpy_function(value: Any) -> bool:
    # numpy 2's array functions (``numpy.asarray``) are neither Python nor builtin functions
    return type(value).__name__ == "_ArrayFunctionDispatcher"


def _describe(value: Any) -> str:
    module = getattr(value, "__module__", None) or type(value).__module__
    name = getattr(value, "__qualname__", None) or type(value).__qualname__
    return f"{module}.{name}"
