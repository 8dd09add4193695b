"""Functional, subclassed and custom-layer models, and the safe-mode boundary."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import attrs
import keras
import numpy as np
import pytest

import flm_core
from flm_core.plugins import Registry
from flm_core.testing import assert_bit_identical

# Keras 3.15's model.save on TensorFlow trips a numpy 2 DeprecationWarning inside Keras
# (keras/src/backend/tensorflow/core.py); not ours to fix, and hidden outside pytest anyway.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

RAN = "FLM_TENSORFLOW_TEST_LAMBDA_RAN"


def predict(model: Any, x: Any) -> np.ndarray:
    return model(x, training=False).numpy()


@keras.saving.register_keras_serializable(package="flm_tensorflow_tests")
class TwoLayer(keras.Model):
    def __init__(self, units: int = 4, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.hidden = keras.layers.Dense(units, activation="relu")
        self.head = keras.layers.Dense(1)

    def call(self, x: Any) -> Any:
        return self.head(self.hidden(x))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}


class Scale(keras.layers.Layer):
    """A custom layer that is deliberately not registered: loading needs custom_objects."""

    def __init__(self, factor: float = 3.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x: Any) -> Any:
        return x * self.factor

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor}


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(8, 3)).astype("float32")


@pytest.fixture(scope="module")
def lambda_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The lambda flags that it ran, so a test can tell whether loading executed it. Keras
    # stores only its bytecode, so it names everything it needs without module globals.
    flag = lambda t: (  # noqa: E731 - a Python lambda is exactly what is under test
        __import__("os").environ.__setitem__("FLM_TENSORFLOW_TEST_LAMBDA_RAN", "1") or t * 2
    )
    model = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(flag)])
    path = tmp_path_factory.mktemp("lambda") / "model.flm"
    # Everything a file could say to ask for trust; none of it may count.
    flm_core.dump(model, path, params={"unsafe": True},
                  extra={"unsafe": True, "safe_mode": False,
                         "load_options": {"unsafe": True, "compile": False}})
    os.environ.pop(RAN, None)
    return path


def test_functional_model_with_two_inputs_round_trips(x: np.ndarray, tmp_path: Path) -> None:
    keras.utils.set_random_seed(1)
    left, right = keras.Input((3,), name="left"), keras.Input((2,), name="right")
    merged = keras.layers.concatenate([left, right])
    model = keras.Model([left, right], keras.layers.Dense(2)(merged))
    inputs = [x, x[:, :2] * -1]
    flm_core.dump(model, tmp_path / "m.flm")
    with flm_core.load(tmp_path / "m.flm") as loaded:
        assert_bit_identical(predict(model, inputs), predict(loaded.model, inputs))
        assert loaded.meta.model.info["input_shapes"] == [[None, 3], [None, 2]]
        assert loaded.meta.model.obj.endswith(".Functional")


def test_registered_subclassed_model_round_trips(x: np.ndarray, tmp_path: Path) -> None:
    keras.utils.set_random_seed(2)
    model = TwoLayer(units=5)
    model(x)
    flm_core.dump(model, tmp_path / "m.flm")
    with flm_core.load(tmp_path / "m.flm") as loaded:
        assert isinstance(loaded.model, TwoLayer)
        assert loaded.model.units == 5
        assert_bit_identical(predict(model, x), predict(loaded.model, x))
        assert loaded.meta.model.obj.rsplit(".", 1)[-1] == "TwoLayer"


def test_unregistered_custom_layer_loads_through_custom_objects(
    x: np.ndarray, tmp_path: Path
) -> None:
    model = keras.Sequential([keras.Input((3,)), Scale(2.5), keras.layers.Dense(1)])
    flm_core.dump(model, tmp_path / "m.flm")
    with pytest.raises(flm_core.FormatError, match="Scale"):
        flm_core.load(tmp_path / "m.flm")
    with flm_core.load(tmp_path / "m.flm", custom_objects={"Scale": Scale}) as loaded:
        assert loaded.model.layers[0].factor == 2.5
        assert_bit_identical(predict(model, x), predict(loaded.model, x))


def test_lambda_layer_dumps_but_default_load_refuses_it(lambda_file: Path) -> None:
    with pytest.raises(flm_core.UnsafeModelError, match="unsafe=True") as caught:
        flm_core.load(lambda_file)
    assert "lambda" in str(caught.value)
    assert RAN not in os.environ


def test_unsafe_true_loads_the_lambda_layer(lambda_file: Path, x: np.ndarray) -> None:
    try:
        with flm_core.load(lambda_file, unsafe=True) as loaded:
            assert_bit_identical(predict(loaded.model, x), x * 2)
        assert os.environ.get(RAN) == "1"
    finally:
        os.environ.pop(RAN, None)


def test_options_in_the_file_do_not_widen_trust(lambda_file: Path) -> None:
    meta = flm_core.read_meta(lambda_file)
    assert meta.extra["unsafe"] is True and meta.model.params == {"unsafe": True}
    with pytest.raises(flm_core.UnsafeModelError):
        flm_core.load(lambda_file)
    # Nor does a process-wide keras switch: only the caller of flm_core.load decides.
    from keras.src.backend.common import global_state

    keras.config.enable_unsafe_deserialization()
    try:
        with pytest.raises(flm_core.UnsafeModelError):
            flm_core.load(lambda_file)
    finally:
        global_state.set_global_attribute("safe_mode_saving", None)
    assert RAN not in os.environ


def test_load_rejects_a_non_bool_unsafe_and_unknown_options(lambda_file: Path) -> None:
    with pytest.raises(flm_core.OptionError, match="unsafe"):
        flm_core.load(lambda_file, unsafe="yes")
    with pytest.raises(flm_core.OptionError, match="safe_mode"):
        flm_core.load(lambda_file, safe_mode=False)
    assert RAN not in os.environ


def test_a_different_keras_minor_version_warns(x: np.ndarray) -> None:
    # The core compares TensorFlow's version; the .keras format follows Keras's own.
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    written = flm_core.dump(model, io.BytesIO())
    payload = io.BytesIO()
    serializer = Registry.current().serializers["tensorflow"][0]
    serializer.dump(model).write(payload)
    info = {**written.model.info, "keras_version": "3.0.99"}
    meta = attrs.evolve(written, model=attrs.evolve(written.model, info=info))
    with pytest.warns(flm_core.FrameworkVersionWarning, match="keras 3.0.99"):
        loaded = serializer.load(io.BytesIO(payload.getvalue()), meta)
    assert_bit_identical(predict(model, x), predict(loaded, x))
