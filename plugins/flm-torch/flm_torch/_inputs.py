"""Made-up example inputs for models whose first layer tells what ``forward`` takes.

``input_shape`` is the shape of one sample, without the batch dimension: ``(3, 224, 224)``
for an image model, ``(128,)`` for token ids. A batch of 2 is made from it, with a dynamic
batch dimension.
"""

from __future__ import annotations

from typing import Any

import torch

from flm_torch.errors import ExampleInputsError

EXAMPLE = "flm_core.dump(model, path, example_inputs=(torch.randn(1, 3, 32, 32),))"
BATCH = 2
SEQUENCE = 8  # token ids per sample when an Embedding model gets no input_shape
_CONV = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)


def first_leaf(model: torch.nn.Module) -> torch.nn.Module | None:
    return next((m for m in model.modules() if not any(True for _ in m.children())), None)


def infer_inputs(model: torch.nn.Module,
                 input_shape: Any = None) -> tuple[tuple[torch.Tensor, ...], tuple[Any, ...]]:
    """One tensor argument for ``forward`` and its dynamic shapes, from the first leaf
    module (Linear, Embedding, ConvNd) and ``input_shape``; anything else must be told."""
    leaf = first_leaf(model)
    shape = _shape(input_shape, model)
    weight = getattr(leaf, "weight", None)
    if isinstance(weight, torch.nn.parameter.UninitializedParameter):
        raise _missing(model, leaf, "its first layer is lazy (not initialised yet)")
    if isinstance(leaf, torch.nn.Embedding):
        ids = torch.randint(0, leaf.num_embeddings, (BATCH, *(shape or (SEQUENCE,))),
                            device=leaf.weight.device)
        # AUTO: export keeps a dimension static where the model pins it (positions table)
        return (ids,), ({i: torch.export.Dim.AUTO for i in range(ids.dim())},)
    if shape is None and isinstance(leaf, torch.nn.Linear):
        shape = (leaf.in_features,)
    if isinstance(leaf, _CONV) and (shape is None or shape[0] != leaf.in_channels):
        raise _missing(model, leaf, _conv_hint(leaf, shape))
    if shape is None:
        raise _missing(model, leaf, "nothing tells its input's shape")
    like = weight if isinstance(weight, torch.Tensor) and weight.is_floating_point() else None
    x = torch.randn(BATCH, *shape, dtype=like.dtype if like is not None else None,
                    device=like.device if like is not None else None)
    return (x,), ({0: torch.export.Dim("batch")},)


def _shape(input_shape: Any, model: torch.nn.Module) -> tuple[int, ...] | None:
    if input_shape is None:
        return None
    if isinstance(input_shape, int):
        input_shape = (input_shape,)
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = ()
    if not shape or not all(type(n) is int and n > 0 for n in shape):
        raise ExampleInputsError(
            f"input_shape must be a tuple of positive ints, the shape of one sample of "
            f"{type(model).__name__}'s input without the batch dimension (e.g. "
            f"input_shape=(3, 224, 224)), not {input_shape!r}")
    return shape


def _conv_hint(leaf: torch.nn.Module, shape: tuple[int, ...] | None) -> str:
    channels = getattr(leaf, "in_channels", "?")
    spatial: dict[type, str] = {torch.nn.Conv1d: "L", torch.nn.Conv2d: "H, W",
                                torch.nn.Conv3d: "D, H, W"}
    dims = spatial.get(type(leaf), "...")
    given = f"input_shape={shape} does not start with" if shape else "it needs"
    return (f"its first layer is {type(leaf).__name__} with {channels} input channels and "
            f"{given} the channels: pass input_shape=({channels}, {dims}), one sample without "
            f"the batch dimension")


def _missing(model: torch.nn.Module, leaf: torch.nn.Module | None, why: str) -> ExampleInputsError:
    first = type(leaf).__name__ if leaf is not None else "no submodule"
    return ExampleInputsError(
        f"cannot infer an input for {type(model).__name__} (first layer {first}): {why}; "
        f"pass input_shape=(...) for a single tensor input, or example_inputs, a tuple of "
        f"forward's arguments, e.g. {EXAMPLE}")
