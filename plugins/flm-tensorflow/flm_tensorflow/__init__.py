"""FLM plugin for Keras 3 models, as built with ``tf.keras`` or ``keras`` (TensorFlow 2.16+).

Registered through the ``flm`` entry point ``tensorflow``. Importing this module imports
neither TensorFlow nor Keras: that happens only inside ``dump`` and ``load``.

Load options (from the caller of ``flm_core.load`` only, never from the file):

``unsafe`` (default ``False``)
    Let Keras deserialize Python lambdas (``keras.layers.Lambda(lambda x: ...)``), which
    runs code stored in the file. Only for files you trust.
``custom_objects``
    A ``{name: class_or_function}`` mapping handed to ``keras.saving.load_model``.
``compile`` (default ``True``)
    Restore the optimizer, loss and metrics the model was compiled with.
"""

from __future__ import annotations

import sys
from typing import Any

import attrs

import flm_core
from flm_core import Payload, Serializer
from flm_tensorflow import saving
from flm_tensorflow.inference import predict
from flm_tensorflow.saving import load
from flm_tensorflow.versions import framework_version

__all__ = ["can_serialize", "dump", "flm_serializers", "framework_version", "load"]


def can_serialize(obj: object) -> bool:
    """True for any ``keras.Model`` (Sequential, functional, subclassed).

    A Keras model cannot exist unless ``keras`` was imported (``tf.keras`` is Keras 3 since
    TensorFlow 2.16), so an absent module means "not ours" and nothing gets imported here.
    """
    keras = sys.modules.get("keras")
    model_class = getattr(keras, "Model", None)
    return isinstance(model_class, type) and isinstance(obj, model_class)


def dump(model: Any) -> Payload:
    """The ``.keras`` payload, with the signature read from the model's inputs and outputs."""
    from flm_tensorflow.inference import signature

    return attrs.evolve(saving.dump(model), signature=signature(model))


@flm_core.hookimpl
def flm_serializers() -> list[Serializer]:
    """The ``tensorflow`` serializer: Keras 3 models in the native ``.keras`` format."""
    return [
        Serializer(
            name="tensorflow",
            distribution="flm-tensorflow",
            can_serialize=can_serialize,
            framework_version=framework_version,
            dump=dump,
            load=load,
            load_options={"unsafe", "custom_objects", "compile"},
            predict=predict,
        )
    ]
