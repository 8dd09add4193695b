"""Invariants that compiled code trusts, checked before the object that relies on them exists.

sklearn's Cython walks tree nodes, sparse indices and neighbour-tree indices without bounds
checks, so a file that lies about them would corrupt memory at ``predict``. Each check here
proves, in a few vectorised passes, what sklearn's own builders guarantee: children come after
their parent and in range (so every walk ends at a leaf), features index real columns, index
arrays stay inside the arrays they index, lengths match shapes.
"""

from __future__ import annotations

from typing import Any

from flm_core import FormatError
from flm_sklearn import schema


def fail(path: str, what: str) -> FormatError:
    return FormatError(f"the sklearn payload is malformed at {path}: {what}")


def _np() -> Any:
    import numpy

    return numpy


def _array(value: Any, path: str, ndim: int, kinds: str = "iuf", dtype: Any = None) -> Any:
    np = _np()
    if not isinstance(value, np.ndarray) or value.ndim != ndim or value.dtype.kind not in kinds:
        raise fail(path, f"expected a {ndim}-d array of kind {kinds}, got {_describe(value)}")
    if dtype is not None and value.dtype != dtype:
        raise fail(path, f"expected dtype {dtype}, got {value.dtype}")
    return value


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    return f"{type(value).__name__}{list(shape) if shape is not None else ''}"


def bools(array: Any, path: str) -> Any:
    """numpy bools are one byte, 0 or 1; any other byte is not a value numpy makes."""
    if array.dtype.kind == "b" and array.size and array.view("u1").max() > 1:
        raise fail(path, "a bool array holds bytes other than 0 and 1")
    return array


def hashable_items(items: list[Any], path: str) -> list[Any]:
    """Set items and dict keys: plain immutable values only, and none whose hashes a file
    could make collide (big ints, many floats): that turns building a dict quadratic."""
    if all(type(item) is str for item in items):  # attribute names, vocabularies
        return items
    np = _np()
    floats = 0

    def check(item: Any) -> None:
        nonlocal floats
        if item is None or type(item) in (str, bool, np.str_, np.bool_):
            return
        if type(item) is tuple:
            for part in item:
                check(part)
            return
        if type(item) is int or isinstance(item, np.integer):
            if abs(int(item)) > schema.MAX_INT_KEY:
                raise fail(path, f"an integer key beyond +-{schema.MAX_INT_KEY}")
            return
        if type(item) is float or isinstance(item, np.floating):
            floats += 1
            if floats > schema.MAX_FLOAT_KEYS:
                raise fail(path, f"more than {schema.MAX_FLOAT_KEYS} float keys")
            return
        raise fail(path, f"a {type(item).__name__} cannot be a key or set item here")

    for item in items:
        check(item)
    return items


def random_state(state: Any, path: str) -> None:
    np = _np()
    inner = state.get("state") if type(state) is dict else None
    if (type(state) is not dict or state.get("bit_generator") != "MT19937"
            or set(state) != {"bit_generator", "state", "has_gauss", "gauss"}
            or type(inner) is not dict or set(inner) != {"key", "pos"}):
        raise fail(path, "a RandomState's state is the MT19937 dict numpy writes")
    _array(inner["key"], path, 1, "u", np.dtype("uint32"))
    position = inner["pos"]
    if inner["key"].shape != (624,) or type(position) is not int or not 0 <= position <= 624:
        raise fail(path, "an MT19937 key is 624 words and pos in [0, 624]")


def sparse(fmt: str, shape: tuple[int, ...], arrays: list[Any], path: str) -> None:
    """scipy's full format check, done before scipy ever sees the arrays."""
    np = _np()
    if len(shape) != 2:
        raise fail(path, "a sparse matrix is two-dimensional")
    data = _array(arrays[0], f"{path}.data", 1, "biufc")
    first = _array(arrays[1], path, 1, "i")
    second = _array(arrays[2], path, 1, "i")
    if fmt == "coo":
        rows, cols = shape
        if not len(data) == len(first) == len(second):
            raise fail(path, "coo data, row and col differ in length")
        for name, index, bound in (("row", first, rows), ("col", second, cols)):
            if index.size and (index.min() < 0 or index.max() >= bound):
                raise fail(path, f"a {name} index is out of range")
        return
    major, minor = shape if fmt == "csr" else shape[::-1]
    indices, indptr = first, second
    if len(indptr) != major + 1 or indptr[0] != 0 or indptr[-1] != len(indices):
        raise fail(path, f"indptr must have {major + 1} entries from 0 to nnz={len(indices)}")
    if len(data) != len(indices):
        raise fail(path, "data and indices differ in length")
    if major and (np.diff(indptr) < 0).any():
        raise fail(path, "indptr decreases")
    if indices.size and (indices.min() < 0 or indices.max() >= minor):
        raise fail(path, f"an index is outside [0, {minor})")


def records(kind: str, array: Any, path: str) -> None:
    if kind == "hdbscan_hierarchy":  # node ids of a single-linkage tree over len + 1 points
        limit = 2 * len(array) + 1
        for name in ("left_node", "right_node"):
            if array.size and (array[name].min() < 0 or array[name].max() >= limit):
                raise fail(path, f"{name} outside [0, {limit})")


# Extension types whose constructor takes a few floats (a loss's power or threshold)
_NUMERIC_ARGUMENTS = frozenset({"sklearn._loss._loss", "sklearn.linear_model._sgd_fast"})


def arguments(cls: type, args: list[Any], path: str) -> None:
    """Constructor arguments of extension types (their ``__cinit__`` needs them)."""
    np = _np()
    if schema.class_path(cls) == "sklearn.tree._tree.Tree":
        if len(args) != 3:
            raise fail(path, "a Tree takes n_features, n_classes, n_outputs")
        n_features, n_classes, n_outputs = args
        if type(n_features) is not int or not 0 < n_features < 2**31:
            raise fail(path, "n_features must be a positive int")
        _array(n_classes, path, 1, "i", np.dtype(np.intp))
        if type(n_outputs) is not int or len(n_classes) != n_outputs or n_outputs < 1:
            raise fail(path, "n_classes must have n_outputs >= 1 entries")
        if n_classes.min() < 1:
            raise fail(path, "every output has at least one class")
        return
    if args and schema.BARE_MODULES.get(cls.__module__, cls.__module__) not in _NUMERIC_ARGUMENTS:
        raise fail(path, f"{cls.__qualname__} is made without constructor arguments")
    if any(type(a) not in (int, float, bool) for a in args):
        raise fail(path, f"{cls.__qualname__} takes only numbers as constructor arguments")


def state(cls: type, args: list[Any], value: Any, path: str) -> None:
    if type(value) is dict:
        plain_state(value, path)
    name = schema.class_path(cls)
    if name == "sklearn.tree._tree.Tree":
        tree(args, value, path)
    elif name == "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor":
        hist_predictor(value, path)
    elif name.startswith(("sklearn.neighbors._kd_tree.", "sklearn.neighbors._ball_tree.")):
        binary_tree(value, path, 2 if "_kd_tree" in name else 1)
    elif name.startswith("sklearn.metrics._dist_metrics."):
        metric(name, value, path)
    elif name == "scipy.interpolate._bsplines._BSpline":
        spline(value, path)
    elif name == "scipy.interpolate._bsplines.BSpline":
        if type(value) is tuple:  # scipy 1.18: (the _BSpline checked above, an array)
            delegate = value[0] if len(value) == 2 else None
            if type(delegate).__qualname__ != "_BSpline" or not isinstance(
                    value[1], _np().ndarray):
                raise fail(path, "a BSpline's state is a _BSpline and an array")
        else:
            spline(value, path)


_NAMES_SEEN: set[str] = set()  # attribute names already proved plain


def plain_state(value: Any, path: str) -> None:
    """An instance's attributes: identifiers, and never a dunder."""
    if type(value) is not dict:
        raise fail(path, "the state of a plain object is a dict of attributes")
    for key in value:
        if key in _NAMES_SEEN:
            continue
        if not schema.is_identifier(key) or key.startswith("__"):
            raise fail(path, f"{key!r:.60} is not an attribute name")
        if len(_NAMES_SEEN) < 10_000:  # bounded: a file cannot grow it without limit
            _NAMES_SEEN.add(key)


def _tree_shape(left: Any, right: Any, leaf: Any, path: str) -> None:
    """Children in range and after their parent, each node but the root a child exactly
    once: the nodes form one tree rooted at 0 and every walk from the root ends at a leaf.
    Whole-array passes without compressing (this runs once per tree on load)."""
    np = _np()
    n = len(left)
    inner = ~leaf
    if (n - int(np.count_nonzero(leaf))) * 2 != n - 1:  # a binary tree has n - 1 edges
        raise fail(path, "the nodes do not form a single binary tree")
    index = np.arange(n)
    if (((left <= index) | (right <= index)) & inner).any() or max(left.max(), right.max()) >= n:
        raise fail(path, "a child index is out of range or not after its parent")
    reached = np.zeros(n + 1, dtype=bool)  # a leaf's -1 lands in the spare last slot
    reached[left] = True
    reached[right] = True
    if np.count_nonzero(reached[1:n]) != n - 1:  # n - 1 children in [1, n): all distinct
        raise fail(path, "the nodes do not form a single tree")


def tree_depth(instance: Any, path: str) -> None:
    """``decision_path`` sizes its output by ``max_depth``: it must not be below the real
    depth. sklearn's own C loop measures it, once the node checks above have proved that
    loop reads only nodes in range (so the Tree exists here, but nothing has used it)."""
    depth = int(instance.compute_node_depths().max()) - 1  # the root counts 1
    if depth > instance.max_depth:
        raise fail(path, f"max_depth {instance.max_depth} is below the tree's depth {depth}")


def _columns(records: Any, names: tuple[str, ...]) -> Any:
    """Integer fields of a record array as contiguous rows: the checks then run on packed
    memory instead of striding over 64-byte records (a few times faster per tree)."""
    np = _np()
    fields = records.dtype.fields
    if all(fields[n][0] == np.dtype(np.int64) and fields[n][1] % 8 == 0 for n in names) and (
            records.dtype.itemsize % 8 == 0 and records.flags.c_contiguous):
        words = records.view(np.int64).reshape(len(records), records.dtype.itemsize // 8)
        return np.ascontiguousarray(words[:, [fields[n][1] // 8 for n in names]].T)
    return [np.ascontiguousarray(records[n]) for n in names]


def tree(args: list[Any], value: Any, path: str) -> None:
    np = _np()
    from sklearn.tree._tree import NODE_DTYPE

    n_features, n_classes, n_outputs = args
    if type(value) is not dict or set(value) != {"max_depth", "node_count", "nodes", "values"}:
        raise fail(path, "a Tree's state is max_depth, node_count, nodes and values")
    nodes = _array(value["nodes"], f"{path}.nodes", 1, "V", NODE_DTYPE)
    n = len(nodes)
    if value["node_count"] != n or type(value["node_count"]) is not int or n < 1:
        raise fail(path, f"node_count {value['node_count']!r:.40} is not the {n} nodes stored")
    values = _array(value["values"], f"{path}.values", 3, "f", np.dtype(np.float64))
    if values.shape != (n, n_outputs, int(n_classes.max())):
        raise fail(path, f"values has shape {values.shape}, not ({n}, {n_outputs}, "
                   f"{int(n_classes.max())})")
    left, right, feature = _columns(nodes, ("left_child", "right_child", "feature"))
    leaf = left == -1
    if ((right != -1) & leaf).any():
        raise fail(path, "a leaf has a right child")
    if (((feature < 0) | (feature >= n_features)) & ~leaf).any():
        raise fail(path, f"a split feature is outside [0, {n_features})")
    _tree_shape(left, right, leaf, path)
    max_depth = value["max_depth"]
    if type(max_depth) is not int or not 0 <= max_depth <= n:  # the real depth: tree_depth
        raise fail(path, f"max_depth {max_depth!r:.40} is outside [0, {n}]")


def hist_predictor(value: Any, path: str) -> None:
    np = _np()
    keys = {"nodes", "binned_left_cat_bitsets", "raw_left_cat_bitsets"}
    if type(value) is not dict or set(value) != keys:
        raise fail(path, f"a TreePredictor's state is {sorted(keys)}")
    nodes = value["nodes"]
    if not isinstance(nodes, np.ndarray) or nodes.dtype.names is None or len(nodes) < 1:
        raise fail(path, "a TreePredictor needs its node records")
    bitsets = [_array(value[k], f"{path}.{k}", 2, "u", np.dtype(np.uint32))
               for k in sorted(keys - {"nodes"})]
    if any(b.shape[1] != 8 or not b.flags.c_contiguous for b in bitsets):
        raise fail(path, "category bitsets are C-ordered (n, 8) uint32 arrays")
    leaf = nodes["is_leaf"] != 0
    _tree_shape(nodes["left"], nodes["right"], leaf, path)
    inner = nodes[~leaf]
    if inner.size and inner["feature_idx"].min() < 0:
        raise fail(path, "a negative split feature")
    categorical = inner[inner["is_categorical"] != 0]
    limit = min(len(b) for b in bitsets)
    if categorical.size and categorical["bitset_idx"].max() >= limit:
        raise fail(path, "a categorical split's bitset index is out of range")


def binary_tree(value: Any, path: str, bound_rows: int) -> None:
    np = _np()
    if type(value) is not tuple or len(value) not in (12, 13):
        raise fail(path, "a KDTree/BallTree state is the 12- or 13-tuple sklearn writes")
    data, idx, nodes, bounds = value[:4]
    numbers = value[4:11]
    if any(type(v) is not int or v < 0 for v in numbers):
        raise fail(path, "tree counters are non-negative ints")
    leaf_size, n_levels, n_nodes = numbers[:3]
    data = _array(data, f"{path}.data", 2, "f")
    n = data.shape[0]
    idx = _array(idx, f"{path}.idx_array", 1, "i", np.dtype(np.intp))
    if len(idx) != n or (n and (idx.min() < 0 or idx.max() >= n)):
        raise fail(path, "idx_array must index the data rows")
    if not isinstance(nodes, np.ndarray) or nodes.dtype.names is None:
        raise fail(path, "node_data must be node records")
    bounds = _array(bounds, f"{path}.node_bounds", 3, "f")
    if (n_levels < 1 or n_levels > 60 or n_nodes != 2**n_levels - 1 or len(nodes) != n_nodes
            or bounds.shape != (bound_rows, n_nodes, data.shape[1]) or leaf_size < 1):
        raise fail(path, "n_levels, n_nodes, node_data and node_bounds disagree")
    start, end = nodes["idx_start"], nodes["idx_end"]
    if (start < 0).any() or (start > end).any() or (end > n).any():
        raise fail(path, "a node's index range is outside the data")
    inner = np.flatnonzero(nodes["is_leaf"] == 0)
    if inner.size and 2 * inner.max() + 2 >= n_nodes:
        raise fail(path, "an inner node's children are outside the tree")
    weights = value[12] if len(value) == 13 else None
    if weights is not None:
        weights = _array(weights, f"{path}.sample_weight", 1, "f")
        if len(weights) != n:
            raise fail(path, "sample_weight must have one weight per row")
    from sklearn.metrics._dist_metrics import DistanceMetric

    if not isinstance(value[11], DistanceMetric):
        raise fail(path, "dist_metric must be a DistanceMetric")


def metric(name: str, value: Any, path: str) -> None:
    if type(value) is not tuple or len(value) != 3 or type(value[0]) is not float:
        raise fail(path, "a distance metric's state is (p, vec, mat)")
    vec = _array(value[1], f"{path}.vec", 1, "f")
    mat = _array(value[2], f"{path}.mat", 2, "f")
    if "Mahalanobis" in name and mat.shape[0] != mat.shape[1]:
        raise fail(path, "a Mahalanobis matrix is square")
    del vec


def spline(value: Any, path: str) -> None:
    if type(value) is not dict:
        raise fail(path, "a BSpline's state is a dict")
    knots = _array(value.get("t", value.get("_t")), f"{path}.t", 1, "f")  # _t in scipy 1.15+
    coefficients = value.get("c", value.get("_c"))
    degree = value.get("k")
    if type(degree) is not int or not 0 <= degree <= 100 or len(knots) < 2 * degree + 2:
        raise fail(path, "k must fit the knots")
    if not isinstance(coefficients, _np().ndarray) or coefficients.ndim < 1 or (
            coefficients.shape[0] < len(knots) - degree - 1):
        raise fail(path, "too few coefficients for the knots")
    axis = value.get("axis", 0)
    if type(axis) is not int or not 0 <= axis < coefficients.ndim:
        raise fail(path, "axis out of range")

