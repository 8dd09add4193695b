"""The JSON description of a Keras model recorded as ``meta.model.info``."""

from __future__ import annotations

import json
import math
from typing import Any

from flm_tensorflow.versions import keras_version

# The whole FLM head holds at most 16 MiB; a config past this is left out rather than
# making a model with thousands of layers impossible to dump.
MAX_CONFIG_BYTES = 4 * 1024 * 1024


def describe(model: Any) -> dict[str, Any]:
    """Keras version, backend, config and shapes of ``model``; never its weights.

    Every part is best effort: an unbuilt or unusual model still dumps, with ``None`` where
    Keras cannot tell.
    """
    import keras

    config = _config(model)
    encoded = json.dumps(config, allow_nan=False)
    info: dict[str, Any] = {
        "keras_version": keras_version(),
        "backend": keras.backend.backend(),
        "class_name": type(model).__name__,
        "compiled": bool(getattr(model, "compiled", False)),
        "params": _attempt(model.count_params),
        "input_shapes": _attempt(lambda: _shapes(model.inputs)),
        "output_shapes": _attempt(lambda: _shapes(model.outputs)),
        "config": config if len(encoded) <= MAX_CONFIG_BYTES else None,
    }
    if info["config"] is None and config is not None:
        info["config_omitted_bytes"] = len(encoded)
    return info


def _attempt(fn: Any) -> Any:
    # Unbuilt and subclassed models raise on count_params/inputs; the info just says None.
    try:
        return json_safe(fn())
    except Exception:
        return None


def _shapes(tensors: Any) -> list[list[int | None]] | None:
    if not tensors:
        return None
    return [[None if dim is None else int(dim) for dim in tensor.shape] for tensor in tensors]


def _config(model: Any) -> Any:
    try:
        config = model.get_config()
    except Exception:  # subclassed models without get_config raise NotImplementedError
        return None
    return json_safe(config)


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON types: tuples become lists, keys strings, non-finite floats
    strings; other objects go through Keras's own serializer, else become their ``repr``."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(item) for item in value]
    try:
        import keras

        serialized = keras.saving.serialize_keras_object(value)
    except Exception:
        return repr(value)
    if isinstance(serialized, (dict, list, str, int, float, bool)) or serialized is None:
        return _plain(serialized)
    return repr(value)


def _plain(value: Any) -> Any:
    # Keras's serialized form is JSON-able by design, but tuples and non-finite floats still
    # need mapping; it contains no further Keras objects, so no second serializer pass.
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return repr(value)
