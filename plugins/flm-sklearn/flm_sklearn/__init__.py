"""FLM plugin for scikit-learn: ``flm_core.dump(estimator, "model.flm")`` and back.

Registered through the ``flm`` entry point ``sklearn = "flm_sklearn"``. Importing this
module, discovering it and reading a file's metadata never import sklearn, numpy or scipy:
``can_serialize`` looks in ``sys.modules`` and the payload code imports them only when it
rebuilds a model.
"""

from __future__ import annotations

import sys
from typing import Any

import attrs

import flm_core
from flm_core import Payload, Serializer
from flm_sklearn import payload, predict

__all__ = ["SERIALIZER", "can_serialize", "flm_serializers", "framework_version"]


def can_serialize(obj: object) -> bool:
    """Whether ``obj`` is a scikit-learn estimator; never imports sklearn."""
    base = sys.modules.get("sklearn.base")
    estimator = getattr(base, "BaseEstimator", None)
    return isinstance(estimator, type) and isinstance(obj, estimator)


def framework_version() -> str:
    """The installed scikit-learn's version; never imports it (``flm plugins`` lists it)."""
    sklearn = sys.modules.get("sklearn")
    if sklearn is not None:
        return str(sklearn.__version__)
    import importlib.metadata

    return importlib.metadata.version("scikit-learn")  # raises an ImportError if missing


def dump(model: Any, *, unsafe_pickle: bool = False) -> Payload:
    """The payload, with the signature read from the fitted estimator."""
    written = payload.dump(model, unsafe_pickle=unsafe_pickle)
    return attrs.evolve(written, signature=predict.signature(model))


SERIALIZER = Serializer(
    name="sklearn",
    distribution="flm-sklearn",
    can_serialize=can_serialize,
    framework_version=framework_version,
    dump=dump,
    load=payload.load,
    dump_options={"unsafe_pickle"},
    load_options={"trusted", "unsafe"},
    predict=predict.predict,
    predict_options={"method"},
)


@flm_core.hookimpl
def flm_serializers() -> list[Serializer]:
    """The sklearn serializer."""
    return [SERIALIZER]
