"""Inference and signatures for scikit-learn estimators; sklearn is imported only here."""

from __future__ import annotations

import warnings
from typing import Any

from flm_core import OptionError, Signature, TensorSpec
from flm_core.signature import outputs_of

METHODS = ("predict", "predict_proba", "decision_function", "transform")


def predict(model: Any, inputs: Any, *, method: str = "predict") -> Any:
    """``model.<method>(inputs)``; ``method`` is one of :data:`METHODS`. A model fitted on
    a DataFrame gets one again, with its column names, where pandas is installed."""
    if method not in METHODS:
        raise OptionError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    call = getattr(model, method, None)
    if call is None:
        raise OptionError(f"{type(model).__name__} has no {method}; use one of "
                          f"{', '.join(m for m in METHODS if hasattr(model, m))}")
    return call(_frame(model, inputs))


def _frame(model: Any, inputs: Any) -> Any:
    names = getattr(model, "feature_names_in_", None)
    if names is None or getattr(inputs, "ndim", 0) != 2:
        return inputs
    try:
        import pandas
    except ImportError:
        return inputs
    return pandas.DataFrame(inputs, columns=list(names))


def signature(model: Any) -> Signature | None:
    """From ``n_features_in_`` (and ``feature_names_in_``): a float64 batch of rows; the
    outputs from predicting one row of zeros. None for an estimator that has neither."""
    import numpy

    features = getattr(model, "n_features_in_", None)
    if not isinstance(features, int):
        return None
    names = getattr(model, "feature_names_in_", None)
    columns = [str(n) for n in names] if names is not None else None
    spec = TensorSpec("input", "float64", [-1, features], columns)
    outputs: tuple[TensorSpec, ...] = ()
    if hasattr(model, "predict"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                outputs = outputs_of(predict(model, numpy.zeros((1, features))))
        except Exception:  # a model that cannot predict zeros: its outputs stay unknown
            outputs = ()
    return Signature(inputs=[spec], outputs=outputs)
