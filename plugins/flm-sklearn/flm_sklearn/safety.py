"""The restricted unpickler: which globals a sklearn payload may name.

A pickle can call any global it names, so the loader decides from the ``module`` and
``name`` strings first, before importing anything (an import runs module code), and then
checks what the name resolves to. Allowed by default:

* classes defined in ``sklearn.*`` (plus the few reconstructor functions its Cython types
  pickle through);
* the numpy array, dtype and scalar reconstructors, numpy scalar/dtype types, and the
  ``numpy.random`` generator state classes and their constructors;
* scipy sparse matrix and array classes;
* a handful of inert builtins and ``collections`` containers.

``trusted`` names widen this for one call; nothing in the file can.
"""

from __future__ import annotations

import functools
import importlib
import os
import pickle
import re
import sys
from collections.abc import Iterable
from typing import IO, Any

from flm_core import OptionError, UnsafeModelError

# Calling one of these with attacker-chosen arguments builds data and nothing else.
EXACT = frozenset({
    "builtins.bool",
    "builtins.complex",
    "builtins.dict",
    "builtins.float",
    "builtins.frozenset",
    "builtins.int",
    "builtins.list",
    "builtins.object",
    "builtins.range",
    "builtins.set",
    "builtins.slice",
    "builtins.str",
    "builtins.tuple",
    "collections.OrderedDict",
    "collections.defaultdict",
    "collections.deque",
    "copyreg._reconstructor",
    "numpy.dtype",
    "numpy.ndarray",
    "numpy.core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy.core.numeric._frombuffer",
    "numpy._core.multiarray._reconstruct",
    "numpy._core.multiarray.scalar",
    "numpy._core.numeric._frombuffer",
    "numpy.random._pickle.__bit_generator_ctor",
    "numpy.random._pickle.__generator_ctor",
    "numpy.random._pickle.__randomstate_ctor",
    "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
})

# Cython types pickle through these; each only calls ``cls.__new__`` on a class that has
# itself passed this check.
_SKLEARN_FUNCTION = re.compile(r"newObj|__pyx_unpickle_\w+")
_NUMPY_TYPE_MODULES = ("numpy", "numpy.dtypes", "numpy._core", "numpy.core")
# Importing runs module code: test suites, build helpers and vendored code are never needed
# to rebuild a fitted estimator.
_SKIPPED_PARTS = frozenset({"tests", "conftest", "externals", "_build_utils", "__check_build",
                            "_testing", "estimator_checks"})


def _sklearn_extension(module: str) -> bool:
    """A Cython module sklearn registered under a bare name (scikit-learn 1.7's ``_loss``).

    Only an already-imported module whose file lies inside the installed sklearn package
    counts, so the file can never make us import anything by naming it."""
    if "." in module:
        return False
    file = getattr(sys.modules.get(module), "__file__", None)
    package = getattr(sys.modules.get("sklearn"), "__file__", None)
    if not isinstance(file, str) or not isinstance(package, str):
        return False
    return _inside(file, os.path.dirname(package))


@functools.cache  # realpath walks the file system; a pickle names the same few modules
def _inside(file: str, directory: str) -> bool:
    root = os.path.realpath(directory)
    return os.path.commonpath([root, os.path.realpath(file)]) == root


def _sklearn(module: str) -> bool:
    return _in(module, "sklearn") or _sklearn_extension(module)


def _in(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _may_resolve(module: str, name: str) -> bool:
    """Whether ``module.name`` is worth importing to check; decided from the strings alone."""
    if f"{module}.{name}" in EXACT:
        return True
    if "." in name or (name.startswith("__") and not name.startswith("__pyx_unpickle_")):
        return False  # dotted names walk attributes (``Cls.__class__``) and dunders are tools
    if _SKIPPED_PARTS.intersection(module.split(".")):
        return False
    return (
        _sklearn(module)
        or module in _NUMPY_TYPE_MODULES
        or _in(module, "numpy.random")
        or _in(module, "scipy.sparse")
    )


def _allowed_object(module: str, name: str, obj: Any) -> bool:
    """The second check, on what the name resolved to."""
    if f"{module}.{name}" in EXACT:
        return True
    if _sklearn(module):
        # a type or function a sklearn module merely imports (``subprocess.Popen``, say) is
        # not sklearn's
        if not _sklearn(getattr(obj, "__module__", None) or ""):
            return False
        return isinstance(obj, type) or (
            callable(obj) and bool(_SKLEARN_FUNCTION.fullmatch(name))
        )
    if not isinstance(obj, type):
        return False
    if module in _NUMPY_TYPE_MODULES:
        import numpy

        # not ndarray subclasses: numpy.memmap(filename, mode="w+") creates files
        return issubclass(obj, (numpy.generic, numpy.dtype))
    if _in(module, "numpy.random"):
        import numpy.random
        from numpy.random.bit_generator import BitGenerator, SeedSequence

        return issubclass(
            obj, (BitGenerator, SeedSequence, numpy.random.RandomState, numpy.random.Generator)
        )
    if _in(module, "scipy.sparse"):
        import scipy.sparse

        bases: tuple[type, ...] = (scipy.sparse.spmatrix,)
        if hasattr(scipy.sparse, "sparray"):
            bases += (scipy.sparse.sparray,)
        return issubclass(obj, bases)
    return False


def _resolve(module: str, name: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def trusted_names(trusted: Iterable[Any]) -> frozenset[str]:
    """Turn the caller's ``trusted`` option into ``module.qualname`` strings."""
    if isinstance(trusted, (str, bytes)) or not isinstance(trusted, Iterable):
        raise OptionError(
            "sklearn load: trusted must be a list of 'module.qualname' strings or of "
            f"classes/functions, not {type(trusted).__name__}"
        )
    names = set()
    for item in trusted:
        if isinstance(item, str):
            names.add(item)
        elif hasattr(item, "__module__") and hasattr(item, "__qualname__"):
            names.add(f"{item.__module__}.{item.__qualname__}")
        else:
            raise OptionError(f"sklearn load: cannot trust {item!r}: not a name, class or function")
    return frozenset(names)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only allowlisted or caller-trusted globals."""

    def __init__(self, file: IO[bytes], *, buffers: Iterable[Any], trusted: frozenset[str]):
        super().__init__(file, buffers=buffers)
        self._trusted = trusted

    def find_class(self, module: str, name: str) -> Any:
        full = f"{module}.{name}"
        if full in self._trusted:
            return _resolve(module, name)
        if _may_resolve(module, name):
            obj = _resolve(module, name)
            if _allowed_object(module, name, obj):
                return obj
        raise UnsafeModelError(
            f"the model file references {full}, which the sklearn loader does not trust; "
            "it was refused before it could be called. If you trust this "
            f"file, pass trusted=[{full!r}] (or unsafe=True) to flm_core.load"
        )
