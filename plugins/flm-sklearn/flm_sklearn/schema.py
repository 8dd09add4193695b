"""The data-only payload: node kinds, dtypes, limits, and what a file may name.

A model is a JSON tree. Plain JSON values (null, booleans, strings, integers, finite floats,
lists) stand for themselves; every other value is an object whose ``"$"`` key names its kind
(``KINDS``). Numeric arrays are raw little- or big-endian buffers in the payload's data
region, with a dtype from ``DTYPES``; the only structured dtypes are the ones this plugin
names itself (``RECORDS``). Classes come from ``allowlist.CLASSES`` (or the caller's
``trusted``), functions from ``FUNCTIONS`` as references that are never called, types from
``TYPES``. Only ``allowlist.MODULES`` are ever imported by a load.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from typing import Any

from flm_core import FormatError, OptionError, UnsafeModelError
from flm_sklearn.allowlist import CLASSES, MODULES

# Limits a file must stay within; each is checked before the memory it implies is allocated.
MAX_MANIFEST = 256 * 1024 * 1024  # bytes of JSON (a million-term vocabulary is ~30 MB)
MAX_DEPTH = 100  # nesting of the JSON tree (a pipeline of pipelines is ~10)
MAX_NDIM = 32  # numpy's own limit is 64
MAX_STRING_ITEMS = 50_000_000  # elements of a string or object array
MAX_FLOAT_KEYS = 4096  # float dict keys/set items per container: their hashes can collide
MAX_INT_KEY = 2**61 - 2  # ints hash to themselves below this: no crafted collisions
# Every buffer starts at a multiple of this in the data region, and the region itself is
# read to an address that is a multiple of it: numpy's and BLAS's SIMD paths round
# differently on differently aligned data, and a loaded model must compute the same bits.
ALIGN = 64

KINDS = frozenset({
    "float", "tuple", "dict", "set", "frozenset", "complex", "slice", "bytes", "scalar",
    "scalars", "array", "records", "objects", "strings", "dtype", "type", "function",
    "object", "random_state", "generator", "sparse",
})

# Numeric and bool element types, any byte order: no pointers, no Python objects.
DTYPES = frozenset(
    f"{order}{code}"
    for code in ("i2", "i4", "i8", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16")
    for order in "<>"
) | frozenset({"|b1", "|i1", "|u1"})
# dtype objects held as values (``SimpleImputer._fit_dtype``): the above plus object and
# fixed-width text; they describe data, they never wrap memory.
DTYPE_VALUE = re.compile(r"[<>|=]?(?:[biuf][1248]|c8|c16|O|[US][0-9]{1,6})")
STRING_DTYPE = re.compile(r"[<>|=]?[US][0-9]{1,6}")

# Structured dtypes this plugin defines, by its own names; the installed sklearn supplies
# the dtype and the file's field list must match it exactly.
RECORDS = {
    "tree_nodes": ("sklearn.tree._tree", "NODE_DTYPE"),
    "hist_gb_nodes": ("sklearn.ensemble._hist_gradient_boosting.common", "PREDICTOR_RECORD_DTYPE"),
    "binary_tree_nodes": ("sklearn.neighbors._kd_tree", "NodeData"),
    "hdbscan_hierarchy": ("sklearn.cluster._hdbscan._tree", "HIERARCHY_dtype"),
}

# Functions a model may hold as values, by reference; a load looks them up, never calls them.
_NUMPY_FUNCTIONS = ("mean", "median", "sum", "max", "min", "std", "var", "average", "nanmean",
                    "nanmedian", "nanmax", "nanmin", "nansum", "asarray", "amax", "amin", "ptp")
FUNCTIONS = frozenset(
    {f"numpy.{name}" for name in _NUMPY_FUNCTIONS}
    | {f"sklearn.feature_selection.{name}" for name in (
        "f_classif", "f_regression", "chi2", "r_regression", "f_oneway",
        "mutual_info_classif", "mutual_info_regression")}
    | {f"sklearn.metrics.{name}" for name in (
        "accuracy_score", "balanced_accuracy_score", "f1_score", "precision_score",
        "recall_score", "roc_auc_score", "log_loss", "r2_score", "mean_squared_error",
        "mean_absolute_error", "explained_variance_score", "brier_score_loss",
        "average_precision_score", "max_error", "median_absolute_error")}
    | {"sklearn.cluster._kmeans._kmeans_single_lloyd",
       "sklearn.cluster._kmeans._kmeans_single_elkan",
       # scipy's BSpline keeps its array-API namespace's asarray (SplineTransformer)
       "scipy._lib.array_api_compat.numpy._aliases.asarray"}
)
# numpy ufuncs are referenced as ``numpy.<name>`` and must be ufuncs of that name.
UFUNC_PREFIX = "numpy."

TYPES = frozenset(
    {f"builtins.{name}" for name in ("bool", "int", "float", "complex", "str", "bytes", "object")}
    | {f"numpy.{name}" for name in (
        "bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
        "float16", "float32", "float64", "complex64", "complex128", "str_", "bytes_",
        "object_", "intp", "uintp", "integer", "floating", "number", "generic", "ndarray")}
)
BIT_GENERATORS = frozenset({"MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64"})
SPARSE_CLASSES = frozenset({"csr_matrix", "csc_matrix", "coo_matrix", "csr_array",
                            "csc_array", "coo_array"})

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def is_identifier(text: object) -> bool:
    return isinstance(text, str) and len(text) <= 200 and bool(_IDENTIFIER.fullmatch(text))


# Cython modules some scikit-learn builds name bare (1.7 on Python 3.10: ``_loss``), and the
# package path they are imported from: a file always names the importable path.
BARE_MODULES = {"_loss": "sklearn._loss._loss"}


def class_path(cls: type) -> str:
    return f"{BARE_MODULES.get(cls.__module__, cls.__module__)}.{cls.__qualname__}"


def trusted_names(trusted: Iterable[Any]) -> frozenset[str]:
    """The caller's ``trusted`` option as ``module.qualname`` strings."""
    if isinstance(trusted, (str, bytes)) or not isinstance(trusted, Iterable):
        raise OptionError(
            "sklearn: trusted must be a list of 'module.qualname' strings or of classes, "
            f"not {type(trusted).__name__}")
    names = set()
    for item in trusted:
        if isinstance(item, str) and _DOTTED.fullmatch(item):
            names.add(item)
        elif isinstance(item, type):
            names.add(class_path(item))
        else:
            raise OptionError(f"sklearn: cannot trust {item!r}: not a dotted name or a class")
    return frozenset(names)


def _import(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise FormatError(f"the model names {module}, which this scikit-learn lacks") from exc


def resolve_class(name: object, trusted: frozenset[str], unsafe: bool) -> type:
    """The class a node names: from the fixed list, the caller's ``trusted``, or anything
    importable under ``unsafe=True``. Module and class are decided from the strings first:
    nothing off the list is imported."""
    if not isinstance(name, str) or not _DOTTED.fullmatch(name) or "." not in name:
        raise FormatError(f"a class name must be a dotted path, not {name!r:.100}")
    module, _, qualname = name.rpartition(".")
    if name not in CLASSES and name not in trusted and not unsafe:
        raise UnsafeModelError(
            f"the model file names the class {name}, which the sklearn loader does not trust; "
            f"nothing was imported. If it is your own class, pass trusted=[{name!r}] to "
            "flm_core.load")
    if name in CLASSES and module not in MODULES:  # the list is consistent; keep it so
        raise UnsafeModelError(f"{module} is not an allowed module")
    cls = getattr(_import(module), qualname, None)
    if not isinstance(cls, type) or class_path(cls) != name:
        raise FormatError(f"{name} is not a class defined under that name")
    return cls


def resolve_function(name: object) -> Any:
    """A function reference: from ``FUNCTIONS`` or a numpy ufunc; never called here."""
    if not isinstance(name, str) or not _DOTTED.fullmatch(name):
        raise FormatError(f"a function name must be a dotted path, not {name!r:.100}")
    module, _, attr = name.rpartition(".")
    if name in FUNCTIONS:
        return getattr(_import(module), attr)
    if module == "numpy":
        import numpy

        found = getattr(numpy, attr, None)
        if isinstance(found, numpy.ufunc):
            return found
    raise UnsafeModelError(
        f"the model file names the function {name}, which is not on the sklearn loader's "
        "list of function references; nothing was imported or called")


def function_name(func: Any) -> str | None:
    """The reference a dump writes for ``func``, or None when it is not on the lists."""
    import numpy

    if isinstance(func, numpy.ufunc):
        name = getattr(func, "__name__", "")
        return f"numpy.{name}" if getattr(numpy, name, None) is func else None
    for name in FUNCTIONS:
        module, _, attr = name.rpartition(".")
        top = module.split(".")[0]
        if top in ("numpy", "sklearn", "scipy") and getattr(func, "__name__", "") == attr:
            try:
                if getattr(importlib.import_module(module), attr) is func:
                    return name
            except ImportError:
                continue
    return None


def resolve_type(name: object, trusted: frozenset[str], unsafe: bool) -> type:
    """A type held as a value (``dtype=numpy.float64``), or an allowlisted class."""
    if name in TYPES:
        assert isinstance(name, str)
        module, _, attr = name.rpartition(".")
        found = getattr(_import(module), attr)
        assert isinstance(found, type)
        return found
    return resolve_class(name, trusted, unsafe)


def type_name(value: type) -> str:
    """The reference a dump writes for a type value; numpy's aliases by their public name."""
    import numpy

    if value.__module__ == "numpy" or value is numpy.ndarray:
        for name in TYPES:
            if name.startswith("numpy.") and getattr(numpy, name[6:], None) is value:
                return name
    return class_path(value)


def record_dtype(kind: object) -> Any:
    """The installed sklearn's structured dtype for one of this plugin's record kinds."""
    if not isinstance(kind, str) or kind not in RECORDS:
        raise FormatError(f"unknown record kind {kind!r:.100}")
    module, attr = RECORDS[kind]
    return getattr(_import(module), attr)
