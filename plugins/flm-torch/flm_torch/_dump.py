"""Export a module with torch.export and describe it; imported lazily by ``dump``."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import torch
from torch._export.serde import serialize as serde

from flm_core import FLMError, Payload
from flm_torch._format import dtype_name, raw_array, write_header
from flm_torch.errors import ExampleInputsError, TorchExportError

EXAMPLE = "flm_core.dump(model, path, example_inputs=(torch.randn(1, 3, 32, 32),))"


def dump(model: torch.nn.Module, *, example_inputs: Any = None,
         dynamic_shapes: Any = None) -> Payload:
    program = export(model, example_inputs, dynamic_shapes)
    tensors = list(_tensors(program))
    manifest = {
        "tensors": [
            {"name": name, "role": role, "dtype": dtype_name(t.dtype), "shape": list(t.shape),
             "requires_grad": bool(t.requires_grad)}
            for name, role, t in tensors
        ],
    }
    # Weights stay out of the program: serde would pickle them into one in-memory blob.
    graph = serde.serialize(program, serialize_state_dict=False, serialize_constants=False,
                            serialize_example_inputs=False).exported_program

    def write(sink: io.RawIOBase) -> None:
        write_header(sink, manifest, graph)
        for _, _, tensor in tensors:
            array = raw_array(tensor)
            if array.size:
                sink.write(array)

    cls = type(model)
    return Payload(write=write, info=describe(model, program),
                   obj=f"{cls.__module__}.{cls.__qualname__}")


def export(model: torch.nn.Module, example_inputs: Any,
           dynamic_shapes: Any) -> torch.export.ExportedProgram:
    """Export ``model`` in eval mode; the caller's train/eval flag is restored after."""
    was_training = model.training
    model.eval()
    try:
        if example_inputs is None:
            if dynamic_shapes is not None:
                raise ExampleInputsError(
                    f"dynamic_shapes needs example_inputs to go with it, e.g. {EXAMPLE}")
            args, dims = infer_inputs(model)
            try:
                return torch.export.export(model, args, dynamic_shapes=dims)
            except Exception as exc:
                raise ExampleInputsError(
                    f"exporting {type(model).__name__} with an inferred input of shape "
                    f"{tuple(args[0].shape)} failed ({exc.__class__.__name__}: {exc}); pass "
                    f"example_inputs that forward accepts, e.g. {EXAMPLE}") from exc
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


def infer_inputs(model: torch.nn.Module) -> tuple[tuple[torch.Tensor, ...], tuple[Any, ...]]:
    """A batch of 2 for a model whose first leaf is a Linear; anything else must be told."""
    leaf = next((m for m in model.modules() if not any(True for _ in m.children())), None)
    if isinstance(leaf, torch.nn.Linear) and not isinstance(
        leaf.weight, torch.nn.parameter.UninitializedParameter
    ):
        x = torch.randn(2, leaf.in_features, dtype=leaf.weight.dtype, device=leaf.weight.device)
        return (x,), ({0: torch.export.Dim("batch")},)
    first = type(leaf).__name__ if leaf is not None else "no submodule"
    raise ExampleInputsError(
        f"cannot infer an input for {type(model).__name__} (its first layer is {first}, not "
        f"Linear): pass example_inputs, a tuple of forward's arguments, e.g. {EXAMPLE}")


def _tensors(program: torch.export.ExportedProgram) -> Iterator[tuple[str, str, torch.Tensor]]:
    params = set(program.graph_signature.parameters)
    for name, tensor in program.state_dict.items():
        yield name, "parameter" if name in params else "buffer", tensor
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
        "inputs": inputs,
    }
