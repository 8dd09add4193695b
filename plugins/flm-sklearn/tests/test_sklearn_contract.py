"""The core's serializer contract, passed by a range of scikit-learn estimators."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from flm_core.testing import SerializerContract, assert_bit_identical

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_Y = np.array([0, 1, 1, 0])


def seed_mlp() -> MLPClassifier:
    return MLPClassifier(
        activation="tanh", max_iter=2000, hidden_layer_sizes=(10,), random_state=7
    ).fit(XOR_X, XOR_Y)


def tabular(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4))
    return x, (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int), x @ [1.0, -2.0, 0.5, 3.0]


class SklearnContract(SerializerContract):
    framework = "sklearn"
    distribution = "flm-sklearn"

    def weights(self, model: Any) -> dict[str, Any]:
        return fitted_state(model)


def fitted_state(obj: Any, path: str = "model", found: dict[str, Any] | None = None,
                 ) -> dict[str, Any]:
    """Every number and string an estimator holds, by attribute path, nested estimators,
    trees and sparse matrices included. An unknown kind of value fails the test instead of
    being skipped."""
    found = {} if found is None else found
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject:
        for index, item in enumerate(obj.ravel().tolist()):
            fitted_state(item, f"{path}[{index}]", found)
        found[f"{path}.shape"] = obj.shape
    elif isinstance(obj, np.ndarray):
        found[path] = obj.copy()  # trees hand out views of their live node memory
    elif isinstance(obj, (np.generic, str, bytes, bool, int, float, type(None))):
        found[path] = obj
    elif scipy.sparse.issparse(obj):
        found[f"{path}.format"] = obj.format
        for part in ("data", "indices", "indptr"):
            found[f"{path}.{part}"] = getattr(obj, part)
    elif isinstance(obj, np.dtype):
        found[path] = obj.str
    elif isinstance(obj, slice):
        found[path] = (obj.start, obj.stop, obj.step)
    elif isinstance(obj, type):
        found[path] = f"{obj.__module__}.{obj.__qualname__}"
    elif isinstance(obj, (set, frozenset)):
        found[path] = sorted(obj, key=repr)
    elif isinstance(obj, (list, tuple)):
        found[f"{path}.len"] = len(obj)
        for index, item in enumerate(obj):
            fitted_state(item, f"{path}[{index}]", found)
    elif isinstance(obj, dict):
        for key in sorted(obj, key=repr):
            fitted_state(obj[key], f"{path}[{key!r}]", found)
    elif isinstance(obj, np.random.RandomState):
        fitted_state(obj.get_state(legacy=False), f"{path}.state", found)
    elif _from_sklearn(obj) and not hasattr(obj, "__dict__"):
        # Cython objects (trees, loss functions): their pickled state
        fitted_state(obj.__reduce__()[1:], f"{path}.reduce", found)
    elif _from_sklearn(obj):
        found[f"{path}.class"] = type(obj).__qualname__
        for key, value in sorted(vars(obj).items()):
            fitted_state(value, f"{path}.{key}", found)
    else:
        raise AssertionError(f"{path}: no rule to compare a {type(obj).__qualname__}")
    return found


class TestSklearnContract(SklearnContract):
    """The seed example: an MLP that learned XOR."""

    def make_model(self) -> Any:
        model = seed_mlp()
        assert list(model.predict(XOR_X)) == [0, 1, 1, 0]  # a model worth round-tripping
        return model

    def make_input(self) -> Any:
        return XOR_X

    def predict(self, model: Any, x: Any) -> Any:
        return model.predict_proba(x)  # floats compare more strictly than labels


class TestPipelineContract(SklearnContract):
    def make_model(self) -> Any:
        x, y, _ = tabular()
        return Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(x, y)

    def make_input(self) -> Any:
        return tabular(50, seed=1)[0]

    def predict(self, model: Any, x: Any) -> Any:
        return model.predict_proba(x)


class TestColumnTransformerContract(SklearnContract):
    """Categorical column 0 one-hot encoded, numeric columns 1-2 scaled (numpy indices)."""

    predict_options = {"method": "transform"}  # noqa: RUF012 - a transformer: no predict

    @staticmethod
    def _data(seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return np.column_stack([rng.integers(0, 4, 60), rng.standard_normal((60, 2))])

    def make_model(self) -> Any:
        return ColumnTransformer([
            ("onehot", OneHotEncoder(sparse_output=False, handle_unknown="ignore"), [0]),
            ("scale", StandardScaler(), [1, 2]),
        ]).fit(self._data(0))

    def make_input(self) -> Any:
        return self._data(1)

    def predict(self, model: Any, x: Any) -> Any:
        return model.transform(x)


class TestRandomForestContract(SklearnContract):
    def make_model(self) -> Any:
        x, y, _ = tabular()
        return RandomForestClassifier(n_estimators=10, random_state=0).fit(x, y)

    def make_input(self) -> Any:
        return tabular(50, seed=1)[0]

    def predict(self, model: Any, x: Any) -> Any:
        return model.predict_proba(x)


class TestGradientBoostingContract(SklearnContract):
    def make_model(self) -> Any:
        x, _, target = tabular()
        return GradientBoostingRegressor(n_estimators=20, random_state=0).fit(x, target)

    def make_input(self) -> Any:
        return tabular(50, seed=1)[0]


class TestLinearRegressionContract(SklearnContract):
    def make_model(self) -> Any:
        x, _, target = tabular()
        return LinearRegression().fit(x, target)

    def make_input(self) -> Any:
        return tabular(50, seed=1)[0]


class TestSparseNeighborsContract(SklearnContract):
    """A brute-force KNeighbors keeps its sparse training matrix as fitted state."""

    def make_model(self) -> Any:
        x = scipy.sparse.random(80, 30, density=0.2, format="csr", random_state=0)
        y = np.random.default_rng(0).integers(0, 3, 80)
        model = KNeighborsClassifier(n_neighbors=3, algorithm="brute").fit(x, y)
        assert scipy.sparse.issparse(model._fit_X)
        return model

    def make_input(self) -> Any:
        return scipy.sparse.random(20, 30, density=0.2, format="csr", random_state=1)

    def predict(self, model: Any, x: Any) -> Any:
        assert scipy.sparse.issparse(model._fit_X)
        return model.predict_proba(x)


class TestTextPipelineContract(SklearnContract):
    """TfidfVectorizer (a vocabulary dict, sparse output) feeding a classifier."""

    DOCS = ("red apple pie", "blue sky day", "green apple tree", "blue ocean day",
            "apple pie recipe", "clear sky blue")

    def make_model(self) -> Any:
        return Pipeline([("tfidf", TfidfVectorizer()), ("clf", LogisticRegression())]).fit(
            list(self.DOCS), [0, 1, 0, 1, 0, 1]
        )

    def make_input(self) -> Any:
        return ["apple sky", "blue pie", "ocean tree day"]

    def predict(self, model: Any, x: Any) -> Any:
        return model.predict_proba(x)


def _from_sklearn(obj: Any) -> bool:
    # sklearn 1.7 on some Pythons names a Cython module of its own bare ("_loss")
    return type(obj).__module__.split(".")[0] in ("sklearn", "_loss")


def test_fitted_state_sees_one_changed_bit_deep_in_a_forest() -> None:
    model = TestRandomForestContract().make_model()
    before = fitted_state(model)
    tree = model.estimators_[7].tree_
    state = tree.__getstate__()
    state["nodes"]["threshold"][0] = np.nextafter(state["nodes"]["threshold"][0], np.inf)
    tree.__setstate__(state)
    after = fitted_state(model)
    assert sorted(after) == sorted(before)
    changed = []
    for key, value in before.items():
        try:
            assert_bit_identical(value, after[key])
        except AssertionError:
            changed.append(key)
    assert changed == ["model.estimators_[7].tree_.reduce[1]['nodes']"]
