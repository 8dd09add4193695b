"""The Open Inference Protocol's JSON tensors, to and from numpy: no HTTP, no framework.

A request tensor is ``{"name", "shape", "datatype", "data", "parameters"?}`` with ``data``
in row-major order, flat or nested; a response tensor is the same, ``data`` flat. What does
not fit raises :class:`~flm_core.InputError`: the routes answer it with a 400.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from flm_core.errors import InputError
from flm_core.signature import Signature, TensorSpec

# The protocol's tensor datatypes and the numpy dtypes they carry (BYTES: strings).
DATATYPES = {"BOOL": "bool", "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32",
             "UINT64": "uint64", "INT8": "int8", "INT16": "int16", "INT32": "int32",
             "INT64": "int64", "FP16": "float16", "FP32": "float32", "FP64": "float64",
             "BYTES": "str"}
DTYPES = {dtype: datatype for datatype, dtype in DATATYPES.items()}


def datatype(dtype: str) -> str:
    """The protocol's datatype for a signature dtype (``float32`` -> ``FP32``)."""
    return DTYPES[dtype]


def metadata_tensor(spec: TensorSpec) -> dict[str, Any]:
    return {"name": spec.name, "datatype": datatype(spec.dtype), "shape": list(spec.shape)}


def _field(tensor: Mapping[str, Any], name: str, kind: type, where: str) -> Any:
    value = tensor.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise InputError(f"{where}.{name} must be a JSON {kind.__name__}")
    return value


def decode_tensor(tensor: Any, where: str) -> tuple[str, Any]:
    """``(name, array)`` of one request tensor, its data reshaped to its ``shape``."""
    import numpy

    if not isinstance(tensor, Mapping):
        raise InputError(f"{where} must be a JSON object")
    name = _field(tensor, "name", str, where)
    shape = _field(tensor, "shape", list, where)
    kind = _field(tensor, "datatype", str, where)
    if "data" not in tensor:
        raise InputError(f"{where} has no data (binary data is not supported)")
    if not all(type(d) is int and d >= 0 for d in shape):
        raise InputError(f"{where}.shape must be a list of non-negative integers")
    if kind not in DATATYPES:
        raise InputError(f"{where}.datatype {kind!r} is not one of {', '.join(DATATYPES)}")
    dtype = DATATYPES[kind]
    try:
        array = numpy.asarray(tensor["data"], dtype=None if dtype == "str" else dtype)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InputError(f"{where}.data does not hold {kind} values: {exc}") from None
    if dtype == "str" and array.dtype.kind != "U" and array.size:
        raise InputError(f"{where}.data must hold strings for BYTES")
    if dtype != "str" and array.dtype.kind not in "biuf":
        raise InputError(f"{where}.data does not hold {kind} values")
    if array.size != math.prod(shape):
        raise InputError(f"{where}: shape {shape} holds {math.prod(shape)} values but data "
                         f"has {array.size}")
    return name, array.reshape(shape)


def decode_request(body: Any, signature: Signature | None) -> tuple[Any, list[str] | None]:
    """The model's inputs from an inference request, and the output names it asks for."""
    if not isinstance(body, Mapping):
        raise InputError("the request body must be a JSON object with inputs")
    tensors = body.get("inputs")
    if not isinstance(tensors, list) or not tensors:
        raise InputError("the request must have a non-empty list of inputs")
    decoded = dict(decode_tensor(t, f"inputs[{i}]") for i, t in enumerate(tensors))
    if len(decoded) != len(tensors):
        raise InputError("two inputs have the same name")
    wanted = None
    if "outputs" in body:
        outputs = body["outputs"]
        if not isinstance(outputs, list) or not all(
                isinstance(o, Mapping) and isinstance(o.get("name"), str) for o in outputs):
            raise InputError("outputs must be a list of objects with a name")
        wanted = [o["name"] for o in outputs]
    if signature is None or not signature.inputs or len(signature.inputs) > 1:
        inputs: Any = decoded  # named; the signature check matches the names
    else:
        # one input: its name in the request is the client's choice, as in MLServer
        inputs = next(iter(decoded.values())) if len(decoded) == 1 else decoded
    return inputs, wanted


def encode_tensor(name: str, array: Any) -> dict[str, Any]:
    import numpy

    array = numpy.asarray(array)
    kind = array.dtype.kind
    dtype = "str" if kind in "USO" else array.dtype.name
    if dtype not in DTYPES:
        raise InputError(f"output {name!r} has dtype {array.dtype.name}, which the protocol "
                         f"cannot carry")
    data = array.reshape(-1).tolist()
    if kind == "O":
        data = [str(v) for v in data]
    return {"name": name, "datatype": DTYPES[dtype], "shape": list(array.shape), "data": data}


def output_arrays(outputs: Any, signature: Signature | None) -> dict[str, Any]:
    """Outputs by name: a single array takes the signature's output name (or ``output``)."""
    if isinstance(outputs, Mapping):
        return dict(outputs)
    name = signature.outputs[0].name if signature and len(signature.outputs) == 1 else "output"
    return {name: outputs}


def encode_response(model: str, outputs: Any, signature: Signature | None,
                    request_id: Any, wanted: list[str] | None) -> dict[str, Any]:
    """An inference response; ``wanted`` picks outputs by name (unknown ones are a 400)."""
    arrays = output_arrays(outputs, signature)
    if wanted is not None:
        unknown = [name for name in wanted if name not in arrays]
        if unknown:
            raise InputError(f"unknown output(s) {unknown}; the model has {list(arrays)}")
        arrays = {name: arrays[name] for name in wanted}
    response: dict[str, Any] = {"model_name": model,
                                "outputs": [encode_tensor(n, a) for n, a in arrays.items()]}
    if isinstance(request_id, str):
        response["id"] = request_id
    return response
