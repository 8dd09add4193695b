"""Inference and signatures for Keras models; Keras is imported only to predict or dump."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flm_core import Signature, TensorSpec
from flm_core.signature import NUMERIC


def _numpy(value: Any, names: list[str]) -> Any:
    import keras

    if isinstance(value, Mapping):
        return {str(k): keras.ops.convert_to_numpy(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return {name: keras.ops.convert_to_numpy(v) for name, v in zip(names, value, strict=True)}
    return keras.ops.convert_to_numpy(value)


def predict(model: Any, inputs: Any) -> Any:
    """``model(inputs, training=False)`` on numpy arrays; several inputs go as a list in the
    signature's order, several outputs come back by output name."""
    args = list(inputs.values()) if isinstance(inputs, Mapping) else inputs
    names = list(getattr(model, "output_names", None) or [])
    result = model(args, training=False)
    if isinstance(result, (tuple, list)) and len(names) != len(result):
        names = [f"output_{i}" for i in range(len(result))]
    return _numpy(result, names)


def _spec(tensor: Any, name: str) -> TensorSpec | None:
    dtype = str(getattr(tensor, "dtype", ""))
    shape = getattr(tensor, "shape", None)
    if dtype not in NUMERIC or shape is None:
        return None
    return TensorSpec(name, dtype, [-1 if d is None else int(d) for d in shape])


def signature(model: Any) -> Signature | None:
    """From ``model.inputs`` and ``model.outputs`` (a built functional or Sequential model;
    a subclassed model has none and gets no signature)."""
    try:
        inputs, outputs = list(model.inputs), list(model.outputs)
    except (AttributeError, ValueError):  # never called, or subclassed: nothing to read
        return None
    output_names = list(getattr(model, "output_names", None) or [])
    if len(output_names) != len(outputs):
        output_names = [f"output_{i}" for i in range(len(outputs))]
    in_specs = [_spec(t, getattr(t, "name", None) or f"input_{i}") for i, t in enumerate(inputs)]
    if len(outputs) == 1:
        output_names = ["output"]
    out_specs = [_spec(t, n) for t, n in zip(outputs, output_names, strict=True)]
    if not in_specs or None in in_specs:
        return None
    return Signature(inputs=[s for s in in_specs if s],
                     outputs=[s for s in out_specs if s] if None not in out_specs else [])
