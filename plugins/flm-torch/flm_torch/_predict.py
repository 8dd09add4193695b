"""Inference and signatures for exported torch programs; imported only to predict or dump."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flm_core import Signature, TensorSpec
from flm_core.signature import NUMERIC, outputs_of


def _numpy(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, Mapping):
        return {str(k): _numpy(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return {f"output_{i}": _numpy(v) for i, v in enumerate(value)}
    return value


def predict(model: Any, inputs: Any) -> Any:
    """``model(*tensors)`` under ``torch.inference_mode()``. ``inputs`` arrive converted to
    the signature's dtypes; several inputs go positionally, in the signature's order. A
    tuple of outputs comes back as ``{"output_0": ..., ...}``."""
    import numpy
    import torch

    arrays = list(inputs.values()) if isinstance(inputs, Mapping) else [inputs]
    # from_numpy shares memory: numpy's read-only arrays get a private, writable copy
    tensors = [torch.from_numpy(numpy.array(a, copy=not a.flags.writeable, order="C"))
               for a in arrays]
    device = next((p.device for p in model.parameters()), None)
    if device is not None and device.type != "cpu":
        tensors = [t.to(device) for t in tensors]
    with torch.inference_mode():
        return _numpy(model(*tensors))


def signature(model: Any, info: Mapping[str, Any]) -> Signature | None:
    """Inputs from the export's placeholders (``info["inputs"]``; a symbolic dimension is
    ``-1``), outputs from running the module on one row of zeros. None where a placeholder
    is not a tensor of a numpy dtype."""
    import torch

    specs = []
    for item in info.get("inputs", ()):
        if item.get("dtype") not in NUMERIC or not item.get("shape"):
            return None
        shape = [d if isinstance(d, int) else -1 for d in item["shape"]]
        specs.append(TensorSpec(str(item["name"]), item["dtype"], shape))
    if not specs:
        return None
    zeros = [torch.zeros([1 if d == -1 else d for d in s.shape],
                         dtype=getattr(torch, s.dtype)) for s in specs]
    outputs: tuple[TensorSpec, ...] = ()
    try:
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                result = _numpy(model(*zeros))
        finally:
            model.train(was_training)
        outputs = outputs_of(result)
    except Exception:  # a module that cannot run on zeros: its outputs stay unknown
        outputs = ()
    return Signature(inputs=specs, outputs=outputs)
