"""Every estimator of ``sklearn.utils.all_estimators()`` that fits with default parameters,
plus meta-estimators, pipelines and column transformers, round-trips through the data format
and gives bit-identical outputs in a fresh process.

Estimators that cannot fit with their defaults on the small datasets below are skipped with
sklearn's own reason (``pytest -ra`` lists them); none is dropped silently.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.base import ClassifierMixin, ClusterMixin, RegressorMixin
from sklearn.utils import all_estimators

import flm_core
from flm_core.testing import assert_bit_identical

METHODS = ("predict", "predict_proba", "decision_function", "transform", "score_samples",
           "predict_log_proba")
# Methods whose output is random on every call, so two calls never compare equal.
NONDETERMINISTIC = {"BernoulliRBM": ("score_samples",)}  # draws from the global RNG
# Outputs that change with where the arrays happen to lie in memory: a copy.deepcopy of the
# fitted model, in the same process, already differs in the last bit (test below).
LAYOUT_SENSITIVE = {"LabelPropagation", "LabelSpreading"}
RNG = np.random.default_rng(0)
X = np.abs(RNG.standard_normal((40, 4)))  # non-negative: chi2 and NMF accept it
Y_CLASS = (X[:, 0] > np.median(X[:, 0])).astype(int)
Y_REG = X @ [1.0, -2.0, 0.5, 3.0]


def _meta() -> dict[str, Any]:
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.ensemble import (
        BaggingClassifier,
        StackingClassifier,
        StackingRegressor,
        VotingClassifier,
    )
    from sklearn.feature_selection import RFE, SelectFromModel
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
    from sklearn.model_selection import GridSearchCV
    from sklearn.multiclass import OneVsOneClassifier, OneVsRestClassifier, OutputCodeClassifier
    from sklearn.multioutput import MultiOutputRegressor
    from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    return {
        "Pipeline": make_pipeline(StandardScaler(), LogisticRegression()),
        "NestedPipeline": Pipeline([("inner", make_pipeline(StandardScaler())),
                                    ("clf", DecisionTreeClassifier(random_state=0))]),
        "ColumnTransformer": ColumnTransformer([
            ("scale", StandardScaler(), [0, 1]),
            ("onehot", OneHotEncoder(handle_unknown="ignore"), [2])]),
        "FeatureUnion": FeatureUnion([("a", StandardScaler()),
                                      ("b", FunctionTransformer(np.log1p))]),
        "TransformedTargetRegressor": TransformedTargetRegressor(
            regressor=Ridge(), func=np.log1p, inverse_func=np.expm1),
        "VotingClassifier": VotingClassifier([("lr", LogisticRegression()),
                                              ("dt", DecisionTreeClassifier(random_state=0))],
                                             voting="soft"),
        "StackingClassifier": StackingClassifier([("lr", LogisticRegression()),
                                                  ("dt", DecisionTreeClassifier(random_state=0))]),
        "StackingRegressor": StackingRegressor([("lr", LinearRegression()), ("r", Ridge())]),
        "BaggingClassifier": BaggingClassifier(max_features=2, random_state=0),
        "GridSearchCV": GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=3),
        "OneVsRestClassifier": OneVsRestClassifier(LogisticRegression()),
        "OneVsOneClassifier": OneVsOneClassifier(LogisticRegression()),
        "OutputCodeClassifier": OutputCodeClassifier(LogisticRegression(), random_state=0),
        "MultiOutputRegressor": MultiOutputRegressor(Ridge()),
        "RFE": RFE(LogisticRegression(), n_features_to_select=2),
        "SelectFromModel": SelectFromModel(LogisticRegression()),
    }


def _fit(name: str, model: Any) -> Any:
    y: Any = None
    if isinstance(model, ClassifierMixin):
        y = Y_CLASS
    elif isinstance(model, RegressorMixin):
        y = np.column_stack([Y_REG, -Y_REG]) if "MultiOutput" in name else Y_REG
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if y is not None:
            return model.fit(X, y)
        try:
            return model.fit(X)
        except TypeError:  # a transformer that needs y (feature selection, PLS, ...)
            return model.fit(X, Y_REG if not isinstance(model, ClusterMixin) else None)


def _outputs(model: Any) -> dict[str, Any]:
    found = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method in METHODS:
            call = getattr(model, method, None)
            if call is None:
                continue
            try:
                out = call(X)
            except Exception:
                continue
            found[method] = out.toarray() if hasattr(out, "toarray") else np.asarray(out)
    if not found:  # clustering and covariance estimators without predict: their results
        found = {key: value for key, value in vars(model).items()
                 if key.endswith("_") and isinstance(value, np.ndarray) and value.dtype != object}
    if not found:  # stateless (hashers, patch extraction) or neighbour queries only
        text = repr(sorted(model.get_params(deep=False).items())) + repr(sorted(vars(model)))
        found["params"] = np.frombuffer(text.encode(), dtype=np.uint8)
    for method in NONDETERMINISTIC.get(type(model).__name__, ()):
        found.pop(method, None)
    return found


def _cases() -> list[tuple[str, Any]]:
    cases = []
    for name, cls in all_estimators():
        cases.append((name, cls))
    return cases + [(f"meta-{name}", model) for name, model in sorted(_meta().items())]


CASES = _cases()


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """name -> (outputs, path) or the reason it could not fit; then one fresh process loads
    every file and writes its outputs."""
    directory = tmp_path_factory.mktemp("breadth")
    results: dict[str, Any] = {}
    for name, factory in CASES:
        try:
            model = _fit(name, factory() if isinstance(factory, type) else factory)
        except Exception as exc:
            results[name] = f"cannot fit with default parameters: {type(exc).__name__}: {exc}"
            continue
        path = directory / f"{name}.flm"
        try:
            flm_core.dump(model, path)
        except flm_core.FLMError as error:
            results[name] = error  # the test fails with it
            continue
        results[name] = (_outputs(model), path)
    files = {name: str(r[1]) for name, r in results.items() if isinstance(r, tuple)}
    script = f"""
        import json, sys, warnings
        import numpy as np
        import flm_core
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_sklearn_breadth import _outputs
        files = json.loads({json.dumps(json.dumps(files))})
        for name, path in files.items():
            try:
                with flm_core.load(path) as loaded:
                    out = _outputs(loaded.model)
            except Exception as exc:
                open(path + ".error", "w").write(type(exc).__name__ + ": " + str(exc))
                continue
            np.savez(path + ".npz", **out)
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return results


@pytest.mark.parametrize("name", [name for name, _ in CASES])
def test_estimator_round_trips_bit_for_bit_in_a_fresh_process(
    name: str, fitted: dict[str, Any],
) -> None:
    result = fitted[name]
    if isinstance(result, str):
        pytest.skip(result[:300])
    if isinstance(result, Exception):
        raise result
    expected, path = result
    if name in LAYOUT_SENSITIVE:
        pytest.xfail("predict_proba depends on memory alignment; a deepcopy differs too")
    error = Path(str(path) + ".error")
    if error.exists():
        raise AssertionError(f"{name}: the fresh process could not load it: {error.read_text()}")
    assert expected, f"{name}: no output method worked on the original"
    with np.load(str(path) + ".npz", allow_pickle=False) as fresh:
        assert sorted(fresh.files) == sorted(expected)
        for method, want in expected.items():
            try:
                assert_bit_identical(want, fresh[method])
            except AssertionError as exc:
                raise AssertionError(f"{name}.{method} differs after the round trip") from exc


def test_layout_sensitive_models_differ_from_their_own_deepcopy() -> None:
    """Why LAYOUT_SENSITIVE is not a loader bug: without any file, a copy already differs."""
    import copy

    from sklearn.semi_supervised import LabelPropagation

    differs = 0
    for seed in range(5):
        x = np.abs(np.random.default_rng(seed).standard_normal((40, 4)))
        model = LabelPropagation().fit(x, (x[:, 0] > np.median(x[:, 0])).astype(int))
        copies = [copy.deepcopy(model) for _ in range(4)]
        outputs = [c.predict_proba(x).tobytes() for c in [model, *copies]]
        differs += len(set(outputs)) > 1
    if not differs:
        pytest.skip("this machine's kernels happen to give the same bits for every copy")
