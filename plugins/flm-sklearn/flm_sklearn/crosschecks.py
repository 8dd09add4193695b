"""Invariants across objects, checked once an estimator has its state: sklearn validates
``X`` against the outer estimator's ``n_features_in_`` and then hands it, unchecked, to the
trees, histogram predictors and libsvm model inside."""

from __future__ import annotations

from typing import Any

from flm_sklearn import schema
from flm_sklearn.checks import _array, _np, fail, tree_depth


def _trees(estimators: Any) -> list[Any]:
    np = _np()
    items = estimators.ravel().tolist() if isinstance(estimators, np.ndarray) else estimators
    return ([e for e in items if type(getattr(e, "tree_", None)).__name__ == "Tree"]
            if type(items) is list else [])


def built(instance: Any, path: str) -> None:
    """Every invariant that needs the whole, newly built object."""
    if schema.class_path(type(instance)) == "sklearn.tree._tree.Tree":
        tree_depth(instance, path)
        return
    attrs = getattr(instance, "__dict__", None)
    if type(attrs) is not dict:
        return
    n_features = attrs.get("n_features_in_")
    tree_ = attrs.get("tree_")
    if type(tree_).__name__ != "Tree":  # KernelDensity's tree_ is a KDTree
        tree_ = None
    if tree_ is not None and n_features is not None and tree_.n_features != n_features:
        raise fail(path, f"tree_ has {tree_.n_features} features, the estimator {n_features}")
    if n_features is not None and "estimators_" in attrs:
        subsets = attrs.get("estimators_features_")
        for i, sub in enumerate(_trees(attrs["estimators_"])):
            expected = n_features
            if subsets is not None:
                features = _array(subsets[i] if i < len(subsets) else None,
                                  f"{path}.estimators_features_[{i}]", 1, "i")
                if features.size and (features.min() < 0 or features.max() >= n_features):
                    raise fail(path, "a bagged estimator uses features out of range")
                expected = len(features)
            if getattr(sub, "n_features_in_", None) != expected:
                raise fail(path, f"estimators_[{i}] expects {sub.n_features_in_} features, "
                           f"not {expected}")
        per_iteration = attrs.get("n_trees_per_iteration_")
        estimators = attrs["estimators_"]
        if (per_iteration is not None and getattr(estimators, "ndim", 0) == 2
                and estimators.shape[1] != per_iteration):
            raise fail(path, "estimators_ columns differ from n_trees_per_iteration_")
    if "_predictors" in attrs:
        _hist_features(attrs, n_features, path)
    if "_n_support" in attrs and "support_vectors_" in attrs:
        _libsvm(attrs, getattr(type(instance), "_impl", None), path)


_KERNELS = frozenset({"linear", "poly", "rbf", "sigmoid", "precomputed"})


def _libsvm(attrs: dict[str, Any], impl: Any, path: str) -> None:
    """libsvm's C predict sizes its loops from these arrays' lengths and trusts that they
    agree: the counts per class sum to the support vectors, one dual row per class but one."""
    np = _np()
    counts = _array(attrs["_n_support"], f"{path}._n_support", 1, "i")
    vectors = attrs["support_vectors_"]
    dual: Any = attrs.get("_dual_coef_")  # dense, or sparse for a model fitted on sparse data
    if not isinstance(getattr(dual, "shape", None), tuple) or len(dual.shape) != 2:
        raise fail(path, "_dual_coef_ is a matrix")
    intercept = _array(attrs.get("_intercept_"), f"{path}._intercept_", 1, "f")
    support = _array(attrs.get("support_"), f"{path}.support_", 1, "i")
    shape: tuple[int, ...] = tuple(getattr(vectors, "shape", ()))
    n_sv = shape[0] if len(shape) == 2 else -1
    fitted: Any = attrs.get("shape_fit_")
    if attrs.get("kernel") == "precomputed":  # support_ indexes the training kernel's columns
        n_sv = len(support)
        if type(fitted) is not tuple or len(fitted) != 2 or (
                n_sv and (support.min() < 0 or support.max() >= fitted[0])):
            raise fail(path, "support_ must index the training samples")
    classes = len(counts)
    if attrs.get("kernel") not in _KERNELS and not callable(attrs.get("kernel")):
        raise fail(path, "an SVM kernel is one of libsvm's names")
    if n_sv < 0 or dual.shape[1] != n_sv or len(support) != n_sv or classes < 2:
        raise fail(path, "support vectors, dual coefficients and support_ disagree")
    if impl in ("c_svc", "nu_svc"):
        pairs = classes * (classes - 1) // 2
        if int(np.sum(counts)) != n_sv or counts.min() < 0 or dual.shape[0] != classes - 1:
            raise fail(path, "class support counts do not match the support vectors")
    else:
        pairs = 1
        if classes != 2 or dual.shape[0] != 1:
            raise fail(path, "a regression or one-class SVM has one dual row")
    if len(intercept) != pairs:
        raise fail(path, f"_intercept_ needs {pairs} entries")
    for name in ("_probA", "_probB", "probA_", "probB_"):
        extra = attrs.get(name)
        if extra is not None and len(_array(extra, f"{path}.{name}", 1, "f")) not in (0, pairs):
            raise fail(path, f"{name} needs 0 or {pairs} entries")
    if (attrs.get("kernel") != "precomputed" and type(fitted) is tuple and len(fitted) == 2
            and shape[1] != fitted[1]):
        raise fail(path, "support vectors have another width than the training data")


def _hist_features(attrs: dict[str, Any], n_features: Any, path: str) -> None:
    np = _np()
    mapper = attrs.get("_bin_mapper")
    categorical = getattr(mapper, "is_categorical_", None)
    if type(n_features) is not int:
        raise fail(path, "a histogram gradient boosting model needs n_features_in_")
    if categorical is not None:
        _array(categorical, f"{path}._bin_mapper.is_categorical_", 1, "bu")
        if len(categorical) != n_features:
            raise fail(path, "is_categorical_ must cover every feature")
    predictors = attrs["_predictors"]
    if type(predictors) is not list:
        raise fail(path, "_predictors is a list of lists")
    for row in predictors:
        for predictor in row if type(row) is list else [row]:
            nodes = getattr(predictor, "nodes", None)
            if not isinstance(nodes, np.ndarray) or nodes.dtype.names is None:
                raise fail(path, "a predictor without node records")
            inner = nodes[nodes["is_leaf"] == 0]
            if inner.size and inner["feature_idx"].max() >= n_features:
                raise fail(path, f"a split feature is outside [0, {n_features})")
            split = inner[inner["is_categorical"] != 0]["feature_idx"]
            if split.size and (categorical is None or not np.asarray(categorical)[split].all()):
                raise fail(path, "a categorical split on a feature that is not categorical")
