"""Signatures: what a model takes and returns, framework-neutral, stored in the metadata.

A :class:`Signature` lists input and output tensors, each with a ``name``, a numpy ``dtype``
name and a ``shape`` where ``-1`` marks a variable dimension (the batch, usually), plus the
``columns`` where the framework knows them (sklearn's ``feature_names_in_``). Plugins record
one at dump time; ``dump(..., input_example=...)`` infers or checks one from an example.

:func:`check_inputs` is what stands between a caller and the framework: anything that does
not fit the signature raises :class:`~flm_core.InputError` naming what was expected, never a
framework traceback. numpy is imported only by the functions that handle arrays.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from flm_core.errors import FormatError, InputError

# A closed set, as safetensors does for its dtypes: a file cannot name anything else.
NUMERIC = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
           "float16", "float32", "float64")
DTYPES = (*NUMERIC, "str")
MAX_RANK = 32  # numpy's own limit is 64; no model here needs more


def _tuple(values: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(values)


def _columns(values: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)


@attrs.frozen
class TensorSpec:
    """One input or output: ``name``, ``dtype`` (a numpy name from :data:`DTYPES`),
    ``shape`` (``-1`` for a variable dimension) and ``columns`` (feature names, or None)."""

    name: str
    dtype: str
    shape: tuple[int, ...] = attrs.field(converter=_tuple)
    columns: tuple[str, ...] | None = attrs.field(default=None, converter=_columns)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}
        if self.columns is not None:
            data["columns"] = list(self.columns)
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str) -> TensorSpec:
        """Checked field by field: a file names only known dtypes and integer dimensions."""
        if not isinstance(data, dict) or not {"name", "dtype", "shape"} <= set(data) or (
                set(data) - {"name", "dtype", "shape", "columns"}):
            raise FormatError(f"{where} must be an object with name, dtype, shape (and columns)")
        name, dtype, shape = data["name"], data["dtype"], data["shape"]
        columns = data.get("columns")
        if not isinstance(name, str) or dtype not in DTYPES:
            raise FormatError(f"{where}: name must be a string and dtype one of {DTYPES}")
        if not isinstance(shape, list) or len(shape) > MAX_RANK or not all(
                type(d) is int and d >= -1 for d in shape):
            raise FormatError(f"{where}.shape must be a list of integers >= -1")
        if columns is not None and not (
                isinstance(columns, list) and all(isinstance(c, str) for c in columns)):
            raise FormatError(f"{where}.columns must be a list of strings")
        return cls(name, dtype, shape, columns)

    def describe(self) -> str:
        """``float32 [-1, 2]``, with the columns when known."""
        text = f"{self.dtype} {list(self.shape)}"
        if self.columns:
            text += f" (columns {', '.join(self.columns)})"
        return text


def _specs(values: Iterable[TensorSpec | Mapping[str, Any]]) -> tuple[TensorSpec, ...]:
    return tuple(v if isinstance(v, TensorSpec) else TensorSpec(**v) for v in values)


@attrs.frozen
class Signature:
    """What a model takes (``inputs``) and returns (``outputs``), and an optional small
    ``example`` input as JSON (nested lists; ``{name: lists}`` for several inputs).

    Example::

        Signature(inputs=[TensorSpec("input", "float64", [-1, 2])],
                  outputs=[TensorSpec("output", "int64", [-1])])
    """

    inputs: tuple[TensorSpec, ...] = attrs.field(converter=_specs)
    outputs: tuple[TensorSpec, ...] = attrs.field(default=(), converter=_specs)
    example: Any = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"inputs": [s.to_dict() for s in self.inputs],
                                "outputs": [s.to_dict() for s in self.outputs]}
        if self.example is not None:
            data["example"] = self.example
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Signature:
        where = "metadata.model.signature"
        if not isinstance(data, dict) or set(data) - {"inputs", "outputs", "example"} or not (
                isinstance(data.get("inputs"), list) and isinstance(data.get("outputs", []), list)):
            raise FormatError(f"{where} must be an object with lists inputs and outputs")
        return cls(
            inputs=[TensorSpec.from_dict(s, f"{where}.inputs[{i}]")
                    for i, s in enumerate(data["inputs"])],
            outputs=[TensorSpec.from_dict(s, f"{where}.outputs[{i}]")
                     for i, s in enumerate(data.get("outputs", []))],
            example=data.get("example"),
        )


def as_signature(value: Signature | Mapping[str, Any] | None) -> Signature | None:
    """An attrs converter: metadata read from a file holds the signature as a dict."""
    if value is None or isinstance(value, Signature):
        return value
    return Signature.from_dict(dict(value))


def dtype_name(dtype: Any) -> str:
    """The signature's name for a numpy dtype: its own name, or ``str`` for text."""
    if dtype.kind in "USO":
        return "str"
    if dtype.name not in NUMERIC:
        raise InputError(f"dtype {dtype.name} has no place in a signature (one of {DTYPES})")
    return str(dtype.name)


def spec_of(name: str, value: Any, columns: Iterable[str] | None = None) -> TensorSpec:
    """The spec of a batch like ``value``: its dtype and shape, dimension 0 variable."""
    import numpy

    array = numpy.asarray(value)
    shape = [-1, *array.shape[1:]] if array.ndim else []
    return TensorSpec(name, dtype_name(array.dtype), shape, columns)


def outputs_of(result: Any) -> tuple[TensorSpec, ...]:
    """Output specs from what a plugin's ``predict`` returned on an example batch."""
    if isinstance(result, Mapping):
        return tuple(spec_of(str(name), value) for name, value in result.items())
    return (spec_of("output", result),)


def infer(example: Any) -> Signature:
    """Input specs from an example: an array-like, or ``{name: array-like}``."""
    if isinstance(example, Mapping):
        return Signature(inputs=[spec_of(str(name), value) for name, value in example.items()],
                         example=_json_example(example))
    return Signature(inputs=[spec_of("input", example)], example=_json_example(example))


def _json_example(example: Any) -> Any:
    import numpy

    if isinstance(example, Mapping):
        return {str(k): numpy.asarray(v).tolist() for k, v in example.items()}
    return numpy.asarray(example).tolist()


def _array(name: str, value: Any) -> Any:
    import numpy

    try:
        array = numpy.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged lists: numpy refuses them
        raise InputError(f"input {name!r} is not a rectangular array: {exc}") from None
    if array.dtype.kind == "O":
        raise InputError(f"input {name!r} is not a rectangular array of numbers or strings")
    return array


def _check(spec: TensorSpec, value: Any) -> Any:
    import numpy

    array = _array(spec.name, value)
    expected = f"expected {spec.describe()}"
    if spec.dtype == "str":
        if array.dtype.kind not in "US":
            raise InputError(f"input {spec.name!r}: {expected}, got {array.dtype.name} values")
    elif array.dtype.kind not in "biuf":
        got = "strings" if array.dtype.kind in "US" else array.dtype.name
        raise InputError(f"input {spec.name!r}: {expected}, got a non-numeric value ({got})")
    elif not numpy.can_cast(array.dtype, spec.dtype, casting="same_kind"):
        raise InputError(f"input {spec.name!r}: {expected}, got {array.dtype.name} values "
                         f"that do not convert without loss")
    if array.ndim != len(spec.shape):
        raise InputError(f"input {spec.name!r}: {expected} (rank {len(spec.shape)}), got "
                         f"shape {list(array.shape)} (rank {array.ndim})")
    for axis, (want, got) in enumerate(zip(spec.shape, array.shape, strict=True)):
        if want != -1 and want != got:
            what = "features" if axis == len(spec.shape) - 1 else f"items on axis {axis}"
            raise InputError(f"input {spec.name!r}: {expected}, {want} {what}; got shape "
                             f"{list(array.shape)}")
    return array if spec.dtype == "str" else array.astype(spec.dtype, copy=False)


def check_inputs(signature: Signature | None, inputs: Any) -> Any:
    """``inputs`` as numpy arrays fit for the model, or :class:`InputError`.

    One input: an array-like, or ``{name: array-like}``; several: ``{name: array-like}``
    with exactly the signature's names. Without a signature (or one without inputs) any
    rectangular array goes through unchanged.
    """
    if signature is None or not signature.inputs:
        if isinstance(inputs, Mapping):
            return {str(k): _array(str(k), v) for k, v in inputs.items()}
        return _array("input", inputs)
    specs = signature.inputs
    if isinstance(inputs, Mapping):
        names = [s.name for s in specs]
        if sorted(map(str, inputs)) != sorted(names):
            raise InputError(f"expected the inputs {names}, got {sorted(map(str, inputs))}")
        checked = {s.name: _check(s, inputs[s.name]) for s in specs}
        return checked[specs[0].name] if len(specs) == 1 else checked
    if len(specs) != 1:
        raise InputError(f"the model takes {len(specs)} inputs: give them by name, "
                         f"{{{', '.join(repr(s.name) for s in specs)}}}")
    return _check(specs[0], inputs)
