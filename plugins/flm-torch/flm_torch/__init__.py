"""FLM plugin for PyTorch: an ``nn.Module`` is stored as a ``torch.export`` program.

The graph is stored as JSON and the weights as raw tensor bytes, so loading needs neither
the model's class nor pickle. torch is imported only when a model is dumped or loaded:
importing this module, plugin discovery and ``flm_core.read_meta`` never import it.
"""

from __future__ import annotations

import io
import sys
from typing import Any

import attrs

import flm_core
from flm_core import Payload, Serializer
from flm_torch.errors import ExampleInputsError, TorchExportError

__all__ = ["ExampleInputsError", "TorchExportError", "dump", "flm_serializers", "load"]


def can_serialize(obj: object) -> bool:
    """True for a ``torch.nn.Module``; never imports torch (if it isn't loaded, ``obj``
    cannot be a module)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def framework_version() -> str:
    """The installed torch's version; never imports torch (``flm plugins`` lists it)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return str(torch.__version__)
    import importlib.metadata

    return importlib.metadata.version("torch")  # raises an ImportError if missing


def dump(model: Any, *, example_inputs: Any = None, dynamic_shapes: Any = None,
         input_shape: Any = None) -> Payload:
    """Export ``model`` (in eval mode) with ``torch.export`` and stream it.

    :param example_inputs: a tensor or a tuple of ``forward``'s positional arguments used
        to trace the model. Optional when the first layer is ``nn.Linear`` or
        ``nn.Embedding``, or with ``input_shape`` (a batch of 2 is made up, with a dynamic
        batch dimension).
    :param input_shape: the shape of one input sample without the batch dimension, e.g.
        ``(3, 224, 224)`` for a model whose first layer is ``nn.Conv2d(3, ...)``.
    :param dynamic_shapes: passed to ``torch.export.export``. By default dim 0 of each
        tensor input is dynamic where the model allows it.
    """
    from flm_torch import _dump, _predict

    payload = _dump.dump(model, example_inputs=example_inputs, dynamic_shapes=dynamic_shapes,
                         input_shape=input_shape)
    return attrs.evolve(payload, signature=_predict.signature(model, payload.info))


def load(stream: io.BufferedIOBase, meta: flm_core.Metadata, *, device: Any = None) -> Any:
    """Rebuild the program and return ``ExportedProgram.module()``, a callable module.

    :param device: where the weights go as they are read (``"cuda:0"``, ``"mps"``, a
        ``torch.device``); the CPU by default, wherever the model was dumped.
    """
    from flm_torch import _load

    return _load.load(stream, meta, device)


def predict(model: Any, inputs: Any) -> Any:
    """Run the loaded program under ``torch.inference_mode()`` on numpy inputs."""
    from flm_torch import _predict

    return _predict.predict(model, inputs)


@flm_core.hookimpl
def flm_serializers() -> list[Serializer]:
    return [
        Serializer(
            name="torch",
            distribution="flm-torch",
            can_serialize=can_serialize,
            framework_version=framework_version,
            dump=dump,
            load=load,
            dump_options={"example_inputs", "dynamic_shapes", "input_shape"},
            load_options={"device"},
            predict=predict,
        )
    ]
