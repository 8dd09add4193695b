"""Hostile files against the data-only loader: each either rebuilds a correct model or fails
with an FLMError, and none runs code, imports a module the file chose, touches a class,
hangs, or allocates what its bytes do not hold."""

from __future__ import annotations

import contextlib
import copy
import json
import operator
import os
import subprocess
import sys
import textwrap
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse
import sklearn_payloads as hostile
from flm_sklearn import payload
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.tree import DecisionTreeClassifier

import flm_core
from flm_core.testing import assert_bit_identical

RNG = np.random.default_rng(0)
X = RNG.standard_normal((120, 4))
Y = (X[:, 0] + X[:, 1] > 0).astype(int)


class RunsOnLoad:
    """Pickles as ``func(*args)``: what an attacker writes into a pickle."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


def refused(data: bytes, error: type[Exception] = flm_core.FLMError, match: str = "",
            **options: Any) -> str:
    with pytest.raises(error, match=match) as caught:
        hostile.load(data, **options)
    return str(caught.value)


def edited(model: Any, edit: Any) -> bytes:
    manifest, region = hostile.split(model)
    edit(manifest, region)
    return hostile.frame(manifest, bytes(region))


# --- item 2: no object arrays, no forged dtypes, structured dtypes only the plugin's own ----

@pytest.mark.parametrize("dtype", ["|O", "|O8", "<M8[s]", "|V8", "[('a', '<i8')]", "<U4", "f8"])
def test_array_dtypes_outside_the_numeric_set_are_refused(dtype: str) -> None:
    root = {"$": "array", "id": 0, "dtype": dtype, "shape": [1], "order": "C", "offset": 0,
            "nbytes": 8}
    refused(hostile.frame(hostile.document(root), bytes(16)), flm_core.FormatError, "dtype")


def test_records_must_be_a_kind_the_plugin_defines_with_its_exact_fields() -> None:
    base = {"$": "records", "id": 0, "shape": [1], "offset": 0, "nbytes": 64}
    for kind, fields in [("evil", ["a"]), ("tree_nodes", ["left_child"])]:
        root = {**base, "kind": kind, "fields": fields}
        refused(hostile.frame(hostile.document(root), bytes(64)), flm_core.FormatError)


def test_dtype_values_cannot_name_structured_or_object_pointer_layouts() -> None:
    for text in ["[('a','O')]", "O,O", "V8", "<M8"]:
        refused(hostile.frame(hostile.document({"$": "dtype", "str": text})),
                flm_core.FormatError, "dtype")


# --- item 3: nothing is ever set on a class ----------------------------------------------

@pytest.mark.parametrize("key", ["__class__", "__dict__", "__setstate__", "__reduce__", "a b",
                                 "1x"])
def test_state_keys_must_be_plain_attribute_names(key: str) -> None:
    def edit(manifest: dict[str, Any], region: bytearray) -> None:
        manifest["root"]["state"]["keys"].append(key)
        manifest["root"]["state"]["values"].append({"$": "type", "name": "builtins.int"})

    refused(edited(LogisticRegression().fit(X, Y), edit), flm_core.FormatError,
            "not an attribute name")


def test_an_attribute_named_like_a_method_stays_on_the_new_instance() -> None:
    original = LogisticRegression.predict

    def edit(manifest: dict[str, Any], region: bytearray) -> None:
        manifest["root"]["state"]["keys"].append("predict")
        manifest["root"]["state"]["values"].append({"$": "function", "name": "numpy.sum"})

    model = hostile.load(edited(LogisticRegression().fit(X, Y), edit))
    assert LogisticRegression.predict is original
    assert "predict" not in LogisticRegression.__dict__ or LogisticRegression.predict is original
    assert LogisticRegression().fit(X, Y).predict(X[:3]).shape == (3,)
    assert model.__dict__["predict"] is np.sum  # data on the instance, never called


def test_a_type_node_returns_the_class_and_applies_no_state() -> None:
    root = {"$": "type", "name": "sklearn.linear_model._logistic.LogisticRegression",
            "state": {}}
    refused(hostile.frame(hostile.document(root)), flm_core.FormatError, "keys")


# --- item 4: state that compiled code trusts ----------------------------------------------

def _tree_nodes(manifest: dict[str, Any], region: bytearray) -> np.ndarray:
    from sklearn.tree._tree import NODE_DTYPE

    node = hostile.find(manifest, lambda n: n.get("kind") == "tree_nodes")
    return hostile.view(region, node, NODE_DTYPE)


TREE_LIES = {
    "left child out of range": lambda n: n["left_child"].__setitem__(0, 10**6),
    "right child before its parent": lambda n: n["right_child"].__setitem__(0, 0),
    "a cycle": lambda n: n["left_child"].__setitem__(
        int(np.flatnonzero(n["left_child"] > 0)[1]), 1),
    "negative child": lambda n: n["right_child"].__setitem__(0, -7),
    "feature out of range": lambda n: n["feature"].__setitem__(0, 4),
    "negative feature": lambda n: n["feature"].__setitem__(0, -3),
    "leaf with a right child": lambda n: n["right_child"].__setitem__(
        int(np.flatnonzero(n["left_child"] == -1)[0]), 1),
    "shared child": lambda n: n["right_child"].__setitem__(0, int(n["left_child"][0])),
}


@pytest.mark.parametrize("lie", sorted(TREE_LIES))
def test_tree_nodes_that_would_walk_out_of_bounds_are_refused(lie: str) -> None:
    tree = DecisionTreeClassifier(random_state=0).fit(X, Y)
    refused(edited(tree, lambda m, r: TREE_LIES[lie](_tree_nodes(m, r))), flm_core.FormatError)


@pytest.mark.parametrize("field", ["max_depth", "node_count"])
@pytest.mark.parametrize("value", [0, 1, 10**9, -1, "3", 2.0])
def test_tree_counts_must_match_the_nodes(field: str, value: Any) -> None:
    tree = DecisionTreeClassifier(random_state=0).fit(X, Y)

    def edit(manifest: dict[str, Any], region: bytearray) -> None:
        state = hostile.find(manifest, lambda n: n.get("class", "").endswith("_tree.Tree"))["state"]
        state["values"][state["keys"].index(field)] = value

    data = edited(tree, edit)
    depth = tree.tree_.max_depth
    if field == "max_depth" and type(value) is int and depth <= value <= tree.tree_.node_count:
        return  # a larger but bounded max_depth is harmless
    refused(data, flm_core.FormatError)


def test_tree_n_features_must_match_the_estimator() -> None:
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, Y)

    def edit(manifest: dict[str, Any], region: bytearray) -> None:
        tree = hostile.find(manifest, lambda n: n.get("class", "").endswith("_tree.Tree"))
        tree["args"][0] = 40
        estimator = hostile.find(manifest, lambda n: n.get("class", "").endswith(
            "DecisionTreeClassifier") and "n_features_in_" in n["state"]["keys"])
        keys = estimator["state"]["keys"]
        estimator["state"]["values"][keys.index("n_features_in_")] = 40

    refused(edited(forest, edit), flm_core.FormatError, "features")


def test_tree_values_shape_is_checked() -> None:
    tree = DecisionTreeClassifier(random_state=0).fit(X, Y)

    def edit(manifest: dict[str, Any], region: bytearray) -> None:
        values = hostile.find(manifest, lambda n: n.get("$") == "array" and len(n["shape"]) == 3)
        values["shape"][2] = 1
        values["nbytes"] //= 2

    refused(edited(tree, edit), flm_core.FormatError)


def _sparse_model() -> KNeighborsClassifier:
    return KNeighborsClassifier(algorithm="brute").fit(
        scipy.sparse.random(30, 8, density=0.3, format="csr", random_state=0), Y[:30])


SPARSE_LIES = {
    "index out of range": lambda idx, ptr: idx.__setitem__(0, 10**6),
    "negative index": lambda idx, ptr: idx.__setitem__(0, -1),
    "indptr decreasing": lambda idx, ptr: ptr.__setitem__(3, ptr[4] + 1),
    "indptr past nnz": lambda idx, ptr: ptr.__setitem__(-1, ptr[-1] + 5),
    "indptr not from 0": lambda idx, ptr: ptr.__setitem__(0, 1),
}


@pytest.mark.parametrize("lie", sorted(SPARSE_LIES))
def test_sparse_matrices_get_a_full_format_check(lie: str) -> None:
    def edit(manifest: dict[str, Any], region: bytearray) -> None:
        node = hostile.find(manifest, lambda n: n.get("$") == "sparse")
        indices = hostile.view(region, node["indices"], node["indices"]["dtype"])
        indptr = hostile.view(region, node["indptr"], node["indptr"]["dtype"])
        SPARSE_LIES[lie](indices, indptr)

    refused(edited(_sparse_model(), edit), flm_core.FormatError)


def test_sparse_part_lengths_must_agree() -> None:
    def edit(manifest: dict[str, Any], region: bytearray) -> None:
        node = hostile.find(manifest, lambda n: n.get("$") == "sparse")
        node["data"]["shape"][0] -= 1
        node["data"]["nbytes"] -= 8

    refused(edited(_sparse_model(), edit), flm_core.FormatError)


def test_kd_tree_indices_must_stay_inside_the_data() -> None:
    def edit(manifest: dict[str, Any], region: bytearray) -> None:
        tree = hostile.find(manifest, lambda n: n.get("class", "").endswith("KDTree"))
        idx = tree["state"]["items"][1]
        hostile.view(region, idx, idx["dtype"])[0] = 10**6

    refused(edited(KNeighborsClassifier(algorithm="kd_tree").fit(X, Y), edit),
            flm_core.FormatError, "idx_array")


def test_hist_gradient_boosting_nodes_are_checked() -> None:
    model = HistGradientBoostingClassifier(max_iter=3, random_state=0).fit(X, Y)

    def edit(manifest: dict[str, Any], region: bytearray) -> None:
        from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

        node = hostile.find(manifest, lambda n: n.get("kind") == "hist_gb_nodes")
        records = hostile.view(region, node, PREDICTOR_RECORD_DTYPE)
        records["feature_idx"][0] = 99

    refused(edited(model, edit), flm_core.FormatError, "feature")


def _fewer_dual_columns(named: dict[str, Any], region: bytearray) -> None:
    dual = named["_dual_coef_"]
    dual["shape"][1] -= 1
    dual["nbytes"] -= 8


def _more_support(named: dict[str, Any], region: bytearray) -> None:
    counts = named["_n_support"]
    hostile.view(region, counts, counts["dtype"])[0] += 5


def _no_intercepts(named: dict[str, Any], region: bytearray) -> None:
    named["_intercept_"].update(shape=[0], nbytes=0, offset=0)


SVM_LIES = {"dual coefficients for fewer vectors": _fewer_dual_columns,
            "support counts past the vectors": _more_support,
            "intercepts missing": _no_intercepts}


@pytest.mark.parametrize("lie", sorted(SVM_LIES))
def test_libsvm_arrays_must_agree_before_predict_can_trust_them(lie: str) -> None:
    from sklearn.svm import SVC

    def edit(manifest: dict[str, Any], region: bytearray) -> None:
        state = manifest["root"]["state"]
        named = dict(zip(state["keys"], state["values"], strict=True))
        SVM_LIES[lie](named, region)

    refused(edited(SVC().fit(X, Y), edit), flm_core.FormatError, "malformed at model:")


def test_constructor_arguments_only_for_the_types_that_take_numbers() -> None:
    root = {"$": "object", "id": 0, "class": "sklearn.neighbors._kd_tree.KDTree",
            "args": [10**9]}
    refused(hostile.frame(hostile.document(root)), flm_core.FormatError, "without constructor")


# --- item 7 and 8: no hangs, no allocation the bytes do not hold ----------------------------

@pytest.mark.parametrize("name", ["collections.deque", "builtins.range", "builtins.bytearray",
                                  "numpy.ndarray", "numpy.memmap"])
def test_containers_off_the_list_are_refused_before_construction(name: str) -> None:
    root = {"$": "object", "id": 0, "class": name, "args": [0, 10**18]}
    start = time.perf_counter()
    refused(hostile.frame(hostile.document(root)), flm_core.UnsafeModelError, "does not trust")
    assert time.perf_counter() - start < 1


@pytest.mark.parametrize("root", [
    {"$": "array", "id": 0, "dtype": "<f8", "shape": [2**40], "order": "C", "offset": 0,
     "nbytes": 2**43},
    {"$": "array", "id": 0, "dtype": "<f8", "shape": [2**31, 2**31, 2**31], "order": "C",
     "offset": 0, "nbytes": 0},
    {"$": "objects", "id": 0, "shape": [2**50], "items": []},
    {"$": "strings", "id": 0, "dtype": "<U999999", "shape": [1000], "items": ["a"] * 1000},
    {"$": "array", "id": 0, "dtype": "<f8", "shape": [4], "order": "C", "offset": 2**62,
     "nbytes": 32},
])
def test_sizes_are_checked_against_the_data_before_allocating(root: dict[str, Any]) -> None:
    tracemalloc.start()
    try:
        refused(hostile.frame(hostile.document(root), bytes(64)), flm_core.FormatError)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000


@pytest.mark.parametrize("header", [
    payload.HEADER.pack(payload.MAGIC, 2, 0, 2**62, 0),
    payload.HEADER.pack(payload.MAGIC, 2, 0, 10, 2**62),
    payload.HEADER.pack(payload.MAGIC, 1, 0, 4, 2**60),
    payload.HEADER.pack(b"NOPE", 2, 0, 0, 0),
    payload.HEADER.pack(payload.MAGIC, 9, 0, 0, 0),
])
def test_lying_headers_are_format_errors_without_huge_allocations(header: bytes) -> None:
    tracemalloc.start()
    try:
        refused(header + b"{}" + bytes(100), flm_core.FLMError, unsafe=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100_000_000


def test_many_empty_arrays_cost_memory_in_proportion_to_the_manifest() -> None:
    count = 100_000
    items = [{"$": "array", "id": i, "dtype": "<f8", "shape": [0], "order": "C", "offset": 0,
              "nbytes": 0} for i in range(count)]
    data = hostile.frame(hostile.document(items))
    tracemalloc.start()
    try:
        loaded = hostile.load(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(loaded) == count
    assert peak < 40 * len(data)  # bounded by what the file holds, not by what it declares


def test_crafted_hash_collisions_in_keys_are_refused() -> None:
    keys = [k * (2**61 - 1) for k in range(1, 50)]
    root = {"$": "dict", "keys": keys, "values": [0] * len(keys)}
    refused(hostile.frame(hostile.document(root)), flm_core.FormatError, "integer key")


# --- item 9: every failure is an FLMError ---------------------------------------------------

@pytest.mark.parametrize("manifest", [
    b"\xff\xfe", b"[" * 100_000, b'{"format": "flm-sklearn/2", "root": ' + b"[" * 50_000,
    b"{}", b"[]", b'{"format": "flm-sklearn/3", "root": 1}', b'{"format": 1, "root": 1}',
    b'{"format": "flm-sklearn/2", "root": {"$": 1}}',
    b'{"format": "flm-sklearn/2", "root": {"$": "tuple", "items": 5}}',
    b'{"format": "flm-sklearn/2", "root": {"$": "float", "hex": "zz"}}',
    b'{"format": "flm-sklearn/2", "root": {"$": "bytes", "hex": "zz"}}',
    b'{"format": "flm-sklearn/2", "root": {"$": "ref", "id": 0}}',
    b'{"format": "flm-sklearn/2", "root": {"$": "slice", "start": "a"}}',
    b'{"format": "flm-sklearn/2", "root": {"$": "dict", "keys": [[1]], "values": [1]}}',
    b'{"format": "flm-sklearn/2", "root": {"$": "tuple", "items": [], "extra": 1}}',
    b'{"format": "flm-sklearn/2", "root": 1' + b"0" * 5000 + b"}",
])
def test_malformed_manifests_are_format_errors(manifest: bytes) -> None:
    refused(hostile.frame(manifest), flm_core.FormatError)


def test_sklearn_rejecting_the_state_is_a_format_error() -> None:
    def edit(manifest: dict[str, Any], region: bytearray) -> None:
        state = manifest["root"]["state"]
        state["keys"].append("_sklearn_version")
        state["values"].append(7)

    model = LogisticRegression().fit(X, Y)
    data = edited(model, edit)
    with contextlib.suppress(flm_core.FLMError):  # sklearn may warn or refuse, as an FLMError
        hostile.load(data)


def test_random_state_state_is_checked() -> None:
    generator = np.random.RandomState(0)

    def edit(manifest: dict[str, Any], region: bytearray) -> None:
        inner = manifest["root"]["state"]["values"][1]
        inner["values"][1] = 10**6  # pos

    refused(edited(generator, edit) if False else _random_state_bytes(), flm_core.FormatError)


def _random_state_bytes() -> bytes:
    manifest, region = hostile.split(LogisticRegression(random_state=np.random.RandomState(0)))
    node = hostile.find(manifest, lambda n: n.get("$") == "random_state")
    node["state"]["values"][1]["values"][1] = 10**6
    return hostile.frame(manifest, bytes(region))


# --- item 10: the file never chooses what is imported ---------------------------------------

IMPORTS = ["sklearn.datasets._openml.OpenMLError", "sklearn.utils._testing.TempMemmap",
           "sklearn.externals._packaging.version.Version", "os.system", "subprocess.Popen",
           "numpy.random._pickle.__randomstate_ctor", "this_module_does_not_exist.X",
           "sklearn.base.BaseEstimator.__class__", "sklearn.base.clone"]


def test_classes_off_the_list_are_refused_without_importing_their_module() -> None:
    script = f"""
        import io, json, sys
        import flm_core
        from flm_sklearn import payload
        names = {IMPORTS!r}
        import numpy.random, sklearn  # what any load imports; numpy 1 loads _pickle with them
        before = set(sys.modules)
        for name in names:
            root = {{"$": "object", "id": 0, "class": name}}
            text = json.dumps({{"format": payload.FORMAT, "root": root}}).encode()
            head = payload.HEADER.pack(payload.MAGIC, 2, 0, len(text), 0)
            try:
                payload.load(io.BytesIO(head + text), None)
            except flm_core.UnsafeModelError:
                pass
            except flm_core.FormatError as exc:
                assert "malformed" in str(exc) or "dotted" in str(exc), (name, exc)
            module = name.rpartition(".")[0]
            assert module not in set(sys.modules) - before, module
        print("ok")
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)],
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "ok", result.stderr


@pytest.mark.parametrize("name", ["builtins.eval", "os.system", "numpy.load", "numpy.memmap",
                                  "sklearn.base.clone", "functools.partial", "numpy.frompyfunc",
                                  "numpy.testing.assert_equal"])
def test_functions_off_the_list_are_refused(name: str) -> None:
    refused(hostile.frame(hostile.document({"$": "function", "name": name})),
            flm_core.UnsafeModelError, "not on the sklearn loader's list")


def test_function_references_are_returned_not_called() -> None:
    model = FunctionTransformer(func=np.log1p, inverse_func=np.expm1).fit(X)
    loaded = hostile.load(hostile.raw(model))
    assert loaded.func is np.log1p and loaded.inverse_func is np.expm1


# --- dump side, trust, and the pickled payload ----------------------------------------------

def test_a_lambda_fails_at_dump_with_its_attribute_path(tmp_path: Path) -> None:
    model = Pipeline([("scale", StandardScaler()),
                      ("f", FunctionTransformer(func=lambda x: x + 1))]).fit(X)
    with pytest.raises(flm_core.FLMError, match=r"model\.steps\[1\]\[1\]\.func"):
        flm_core.dump(model, tmp_path / "m.flm")
    assert not (tmp_path / "m.flm").exists()


def test_unsafe_pickle_writes_a_pickle_that_loads_only_with_unsafe(tmp_path: Path) -> None:
    model = FunctionTransformer(func=operator.neg).fit(X)  # not a reference the format lists
    path = tmp_path / "m.flm"
    with pytest.raises(flm_core.FLMError, match=r"model\.func"):
        flm_core.dump(model, path)
    flm_core.dump(model, path, unsafe_pickle=True)
    assert flm_core.read_meta(path).model.info[payload.PAYLOAD_INFO_KEY] == "pickle"
    with pytest.raises(flm_core.UnsafeModelError, match="unsafe=True"):
        flm_core.load(path)
    with flm_core.load(path, unsafe=True) as loaded:
        assert_bit_identical(loaded.model.transform(X), -X)


def test_os_system_in_a_pickled_payload_runs_only_under_unsafe(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.flm"
    flm_core.dump(RunsOnLoad(os.system, f"touch {marker}"), path, framework="sklearn",
                  unsafe_pickle=True)
    with pytest.raises(flm_core.UnsafeModelError):
        flm_core.load(path)
    assert not marker.exists()
    with flm_core.load(path, unsafe=True):
        pass
    assert marker.exists()  # the refusal above is what saved us


def test_a_custom_reducer_cannot_be_dumped_as_data(tmp_path: Path) -> None:
    with pytest.raises(flm_core.FLMError, match="pickles through"):
        flm_core.dump(RunsOnLoad(os.system, "true"), tmp_path / "x.flm", framework="sklearn")


@pytest.fixture
def user_class(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[type]:
    (tmp_path / "flm_sk_user_module.py").write_text(textwrap.dedent("""
        class Scaler:
            def __init__(self, factor):
                self.factor = factor
            def predict(self, x):
                return [v * self.factor for v in x]
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import flm_sk_user_module

    yield flm_sk_user_module.Scaler
    sys.modules.pop("flm_sk_user_module", None)


def test_user_class_is_refused_by_default(tmp_path: Path, user_class: type) -> None:
    path = tmp_path / "u.flm"
    flm_core.dump(user_class(3), path, framework="sklearn")
    with pytest.raises(flm_core.UnsafeModelError, match=r"flm_sk_user_module\.Scaler"):
        flm_core.load(path)


@pytest.mark.parametrize("how", ["name", "class"])
def test_user_class_loads_when_the_caller_trusts_it(tmp_path: Path, user_class: type,
                                                     how: str) -> None:
    path = tmp_path / "u.flm"
    flm_core.dump(user_class(3), path, framework="sklearn")
    trusted = ["flm_sk_user_module.Scaler"] if how == "name" else [user_class]
    with flm_core.load(path, trusted=trusted) as loaded:
        assert isinstance(loaded.model, user_class)
        assert loaded.model.predict([1, 2]) == [3, 6]


def test_trusted_must_be_a_list_and_unsafe_a_bool(tmp_path: Path) -> None:
    path = tmp_path / "m.flm"
    flm_core.dump(LogisticRegression(), path)
    with pytest.raises(flm_core.OptionError, match="trusted"):
        flm_core.load(path, trusted="os.system")
    with pytest.raises(flm_core.OptionError, match="unsafe"):
        flm_core.load(path, unsafe="yes")
    with pytest.raises(flm_core.OptionError, match="unsafe_pickle"):
        flm_core.dump(LogisticRegression(), path, unsafe_pickle="yes")


def test_a_hostile_payload_in_a_whole_file_is_refused(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    tree = DecisionTreeClassifier(random_state=0).fit(X, Y)
    data = edited(tree, lambda m, r: TREE_LIES["left child out of range"](_tree_nodes(m, r)))
    path = hostile.wrap(data, tmp_path / "evil.flm", monkeypatch)
    flm_core.verify(path)  # every checksum is right: the plugin is what refuses it
    with pytest.raises(flm_core.FormatError, match="child"):
        flm_core.load(path)


def test_the_untouched_payload_still_loads() -> None:
    """The edits above are what the loader refuses, not the models."""
    tree = DecisionTreeClassifier(random_state=0).fit(X, Y)
    loaded = hostile.load(edited(tree, lambda m, r: None))
    assert_bit_identical(loaded.predict_proba(X), tree.predict_proba(X))
    assert copy.deepcopy(json.loads(json.dumps(hostile.split(tree)[0])))
