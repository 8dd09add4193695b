"""A JSON-safe summary of an estimator's hyper-parameters for ``meta.model.info``."""

from __future__ import annotations

import math
from typing import Any

# The metadata head is bounded; a parameter holding data (a vocabulary, a weight array)
# must not fill it.
MAX_TEXT = 200
MAX_ITEMS = 100
MAX_DEPTH = 6


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _text(value: str) -> str:
    return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 3] + "..."


def _is_estimator(value: Any) -> bool:
    return callable(getattr(value, "get_params", None)) and not isinstance(value, type)


def json_safe(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON: nested estimators by class path, anything unknown by its repr."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)  # IntEnum and friends become plain numbers
    if isinstance(value, float):  # numpy.float64 is a float subclass
        return float(value) if math.isfinite(value) else repr(float(value))
    if isinstance(value, str):
        return _text(value)
    if depth >= MAX_DEPTH:
        return _text(repr(value))
    if _is_estimator(value):
        return _class_path(type(value))
    if isinstance(value, type):
        return _class_path(value)
    if hasattr(value, "dtype") and getattr(value, "shape", None) == () and hasattr(value, "item"):
        return json_safe(value.item(), depth + 1)  # a numpy scalar
    if isinstance(value, (list, tuple)):
        return [json_safe(v, depth + 1) for v in value[:MAX_ITEMS]]
    if isinstance(value, dict):
        return {_text(str(k)): json_safe(v, depth + 1) for k, v in list(value.items())[:MAX_ITEMS]}
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '?')}.{value.__qualname__}"
    return _text(repr(value))


def describe_params(model: Any) -> dict[str, Any]:
    """``model.get_params(deep=False)`` made JSON-safe; ``{}`` when it has none."""
    get_params = getattr(model, "get_params", None)
    if not callable(get_params):
        return {}
    params = get_params(deep=False)
    return {str(k): json_safe(v) for k, v in sorted(params.items())}
