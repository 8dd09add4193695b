"""Fuzzing the payload reader: mutated manifests and data regions of real models either load
(and then predict or raise, never crash) or fail with an FLMError, within a time limit.

The mutations go straight to ``payload.load``, so no checksum stops them before the parser
(``sklearn_payloads.wrap`` shows the same bytes pass the core's checks once framed). CI runs
``FLM_FUZZ_EXAMPLES`` examples per strategy (default 150, a few tens of seconds in all); set
it higher to fuzz longer. Inputs that once escaped are kept in ``sklearn_corpus.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
import scipy.sparse
import sklearn_corpus
import sklearn_payloads as hostile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import flm_core

EXAMPLES = int(os.environ.get("FLM_FUZZ_EXAMPLES", "150"))
SECONDS_PER_INPUT = 10
X = np.random.default_rng(0).standard_normal((60, 3))
Y = (X[:, 0] > 0).astype(int)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                suppress_health_check=list(HealthCheck))
EXECUTIONS = {"count": 0}


def _seeds() -> list[tuple[dict[str, Any], bytearray]]:
    models = [
        RandomForestClassifier(n_estimators=2, max_depth=3, random_state=0).fit(X, Y),
        KNeighborsClassifier(algorithm="kd_tree").fit(X, Y),
        KNeighborsClassifier(algorithm="brute").fit(scipy.sparse.csr_matrix(X * (X > 0)), Y),
        HistGradientBoostingRegressor(max_iter=2).fit(X, X[:, 1]),
        make_pipeline(StandardScaler(), LogisticRegression(random_state=np.random.RandomState(0)))
        .fit(X, Y),
    ]
    return [hostile.split(model) for model in models]


SEEDS = _seeds()


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def hang(signum: int, frame: Any) -> None:
        raise AssertionError(f"no answer within {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def check(data: bytes) -> None:
    """The invariant: a model (which may refuse to predict, as a Python exception) or an
    FLMError; never another exception, a crash or a hang."""
    EXECUTIONS["count"] += 1
    with time_limit(SECONDS_PER_INPUT), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = hostile.load(data)
        except flm_core.FLMError:
            return
        data_in = scipy.sparse.csr_matrix(X) if "sparse" in repr(data[:4000]) else X
        for method in ("predict", "predict_proba"):
            call = getattr(model, method, None)
            if callable(call):
                with contextlib.suppress(Exception):  # refusing is fine; crashing is not
                    call(data_in)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8)
    | st.sampled_from(["$", "array", "object", "records", "tree_nodes", "<f8", "|O", "C", "F"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["$", "id", "shape", "offset", "nbytes", "dtype", "items", "class",
                         "state", "keys", "values", "args", "x"]), inner, max_size=4),
    max_leaves=12,
)


def _paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(tree, dict):
        for key, value in tree.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            found += _paths(value, (*prefix, index))
    return found


def _replace(tree: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = dict(tree) if isinstance(tree, dict) else list(tree)
    copy[path[0]] = _replace(tree[path[0]], path[1:], value)
    return copy


@FUZZ
@given(seed=st.integers(0, len(SEEDS) - 1), where=st.integers(0, 10**6), value=JSON)
def test_fuzz_structured_manifest_mutations(seed: int, where: int, value: Any) -> None:
    manifest, region = SEEDS[seed]
    paths = _paths(manifest["root"])
    mutated = {**manifest, "root": _replace(manifest["root"], paths[where % len(paths)], value)}
    check(hostile.frame(json.dumps(mutated).encode(), bytes(region)))


@FUZZ
@given(seed=st.integers(0, len(SEEDS) - 1), where=st.integers(0, 10**6),
       number=st.sampled_from([-(2**63), -2, -1, 0, 1, 2, 3, 7, 64, 2**31, 2**62, 10**30]))
def test_fuzz_numbers_in_the_manifest(seed: int, where: int, number: int) -> None:
    manifest, region = SEEDS[seed]
    paths = [p for p in _paths(manifest["root"]) if p and isinstance(
        _get(manifest["root"], p), int) and not isinstance(_get(manifest["root"], p), bool)]
    mutated = {**manifest, "root": _replace(manifest["root"], paths[where % len(paths)], number)}
    check(hostile.frame(json.dumps(mutated).encode(), bytes(region)))


def _get(tree: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        tree = tree[part]
    return tree


@FUZZ
@given(seed=st.integers(0, len(SEEDS) - 1),
       flips=st.lists(st.tuples(st.integers(0, 10**9), st.integers(1, 255)), min_size=1,
                      max_size=8),
       in_region=st.booleans())
def test_fuzz_byte_flips(seed: int, flips: list[tuple[int, int]], in_region: bool) -> None:
    manifest, region = SEEDS[seed]
    text = bytearray(json.dumps(manifest).encode())
    target = bytearray(region) if in_region else text
    for where, mask in flips:
        target[where % len(target)] ^= mask
    check(hostile.frame(bytes(text if in_region else target),
                        bytes(target if in_region else region)))


@pytest.mark.parametrize("name", sorted(sklearn_corpus.CORPUS))
def test_corpus_of_past_escapes(name: str) -> None:
    check(sklearn_corpus.CORPUS[name]())


def test_fuzzing_ran() -> None:
    """Says how many inputs this session tried (pytest -s shows it)."""
    print(f"sklearn fuzz executions this session: {EXECUTIONS['count']}")
