"""Export a module with torch.export and describe it; imported lazily by ``dump``."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import torch

from flm_core import FLMError, Payload, UnsafeModelError
from flm_torch import _compat
from flm_torch._devices import write_from_device
from flm_torch._format import dtype_name, flat_view, write_header
from flm_torch._inputs import EXAMPLE, infer_inputs
from flm_torch._safety import check_program
from flm_torch.errors import ExampleInputsError, TorchExportError


def dump(model: torch.nn.Module, *, example_inputs: Any = None, dynamic_shapes: Any = None,
         input_shape: Any = None) -> Payload:
    program = export(model, example_inputs, dynamic_shapes, input_shape)
    tensors = list(_tensors(program))
    entries = _entries(tensors)
    graph = _compat.program_json(program)
    _check_loadable(graph)

    def write(sink: io.RawIOBase) -> None:
        write_header(sink, {"tensors": entries}, graph)
        for (_, _, tensor), entry in zip(tensors, entries, strict=True):
            if "tie" not in entry and tensor.numel():
                _write_tensor(sink, tensor)

    cls = type(model)
    return Payload(write=write, info=describe(model, program),
                   obj=f"{cls.__module__}.{cls.__qualname__}")


def _check_loadable(graph: bytes) -> None:
    """What load would refuse fails here, naming the place, not in someone's later load."""
    try:
        check_program(json.loads(graph))
    except UnsafeModelError as exc:
        raise TorchExportError(f"flm-torch cannot store this model: its exported program "
                               f"would be refused on load ({exc})") from exc


def _entries(tensors: list[tuple[str, str, torch.Tensor]]) -> list[dict[str, Any]]:
    """The manifest; a tensor that is the very storage of an earlier one is a tie to it."""
    entries: list[dict[str, Any]] = []
    seen: dict[Any, str] = {}
    for name, role, t in tensors:
        entry: dict[str, Any] = {"name": name, "role": role, "dtype": dtype_name(t.dtype),
                                 "shape": list(t.shape), "requires_grad": bool(t.requires_grad)}
        if t.layout == torch.strided and t.numel():
            key = (t.device, t.data_ptr(), t.dtype, tuple(t.shape), t.stride())
            if key in seen:
                entry["tie"] = seen[key]
            else:
                seen[key] = name
        entries.append(entry)
    return entries


def _write_tensor(sink: io.RawIOBase, tensor: torch.Tensor) -> None:
    flat = flat_view(tensor)
    if flat.device.type == "cpu":
        sink.write(flat.numpy().data)
    else:  # a GPU tensor reaches the host a bounded piece at a time
        write_from_device(sink, flat)


def export(model: torch.nn.Module, example_inputs: Any, dynamic_shapes: Any,
           input_shape: Any = None) -> torch.export.ExportedProgram:
    """Export ``model`` in eval mode; the caller's train/eval flag is restored after."""
    was_training = model.training
    model.eval()
    try:
        if example_inputs is None:
            if dynamic_shapes is not None:
                raise ExampleInputsError(
                    f"dynamic_shapes needs example_inputs to go with it, e.g. {EXAMPLE}")
            args, dims = infer_inputs(model, input_shape)
            try:
                return torch.export.export(model, args, dynamic_shapes=dims)
            except Exception as exc:
                raise ExampleInputsError(
                    f"exporting {type(model).__name__} with an inferred input of shape "
                    f"{tuple(args[0].shape)} ({args[0].dtype}) failed "
                    f"({exc.__class__.__name__}: {exc}); pass example_inputs that forward "
                    f"accepts, e.g. {EXAMPLE}") from exc
        if input_shape is not None:
            raise ExampleInputsError("pass input_shape or example_inputs, not both")
        args = _as_args(example_inputs)
        if dynamic_shapes is not None:
            return _export(model, args, dynamic_shapes)
        try:
            return torch.export.export(model, args, dynamic_shapes=_batch_dims(args))
        except Exception:  # a model that fixes its batch size: export it static
            return _export(model, args, None)
    finally:
        model.train(was_training)


def _export(model: torch.nn.Module, args: tuple[Any, ...],
            dynamic_shapes: Any) -> torch.export.ExportedProgram:
    try:
        return torch.export.export(model, args, dynamic_shapes=dynamic_shapes)
    except Exception as exc:
        raise TorchExportError(
            f"torch.export could not export {type(model).__name__}: "
            f"{exc.__class__.__name__}: {exc}") from exc


def _as_args(example_inputs: Any) -> tuple[Any, ...]:
    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,)
    if isinstance(example_inputs, (tuple, list)):
        return tuple(example_inputs)
    raise ExampleInputsError(
        "example_inputs must be a tensor or a tuple of forward's positional arguments, not "
        f"{type(example_inputs).__name__}, e.g. {EXAMPLE}")


def _batch_dims(args: tuple[Any, ...]) -> tuple[Any, ...]:
    # AUTO lets export keep dim 0 static when the model pins it instead of failing.
    return tuple(
        {0: torch.export.Dim.AUTO} if isinstance(a, torch.Tensor) and a.dim() else None
        for a in args
    )


def _tensors(program: torch.export.ExportedProgram) -> Iterator[tuple[str, str, torch.Tensor]]:
    params = set(program.graph_signature.parameters)
    for name, tensor in program.state_dict.items():
        # torch 2.6 lists a tied parameter under one of its names only: ask the tensor too
        parameter = name in params or isinstance(tensor, torch.nn.Parameter)
        yield name, "parameter" if parameter else "buffer", tensor
    for name, value in program.constants.items():
        if not isinstance(value, torch.Tensor):
            raise FLMError(
                f"the exported program holds a {type(value).__name__} constant {name!r}; "
                "flm-torch stores tensors only (script objects would need pickle)")
        yield name, "constant", value


def _shape(value: Any) -> list[int | str]:
    return [d if isinstance(d, int) else str(d) for d in getattr(value, "shape", ())]


def describe(model: torch.nn.Module, program: torch.export.ExportedProgram) -> dict[str, Any]:
    """The module tree, tensor shapes and the program's inputs: never weight values."""
    def tensor(t: torch.Tensor) -> dict[str, Any]:
        return {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}

    inputs = []
    placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    for name in program.graph_signature.user_inputs:
        val = placeholders[name].meta.get("val") if name in placeholders else None
        dtype = getattr(val, "dtype", None)
        inputs.append({"name": name, "shape": _shape(val),
                       "dtype": str(dtype).removeprefix("torch.") if dtype else None})
    return {
        "modules": {
            name: {"class": f"{type(m).__module__}.{type(m).__qualname__}",
                   "repr": f"{type(m).__name__}({m.extra_repr()})"}
            for name, m in model.named_modules()
        },
        "parameters": {name: tensor(p) for name, p in model.named_parameters()},
        "buffers": {name: tensor(b) for name, b in model.named_buffers()},
        "total_parameters": sum(p.numel() for p in model.parameters()),
        # Where the model was when dumped; loading never asks for it (load's device= does).
        "devices": sorted({str(t.device) for t in (*model.parameters(), *model.buffers())}),
        "inputs": inputs,
    }
