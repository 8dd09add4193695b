"""Inference through plugins: check inputs against the signature, then the plugin's predict.

``flm predict``, ``flm serve`` and the MLServer runtime all come through :class:`Predictor`,
so a model answers the same everywhere. numpy is imported only when inputs are checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from flm_core.errors import InputError, OptionError, PredictionNotSupportedError
from flm_core.signature import Signature, check_inputs, infer, outputs_of

if TYPE_CHECKING:
    from flm_core.artifact import ModelArtifact
    from flm_core.records import Serializer

# input_example lands in the metadata, which is read whole before anything else
MAX_EXAMPLE_VALUES = 10_000


def example_signature(serializer: Serializer, model: Any, recorded: Signature | None,
                      example: Any) -> Signature:
    """The signature ``dump(..., input_example=...)`` stores: the plugin's own, checked
    against the example, or inferred from it; outputs from predicting on it."""
    import numpy

    values = example.values() if isinstance(example, Mapping) else [example]
    size = sum(numpy.size(v) for v in values)
    if size > MAX_EXAMPLE_VALUES:
        raise InputError(f"input_example holds {size} values; it is stored in the metadata, "
                         f"so give a few rows (at most {MAX_EXAMPLE_VALUES} values)")
    signature = recorded if recorded is not None and recorded.inputs else infer(example)
    inputs = check_inputs(signature, example)  # a plugin's signature must accept it
    if not signature.outputs and serializer.predict is not None:
        try:
            outputs = outputs_of(serializer.predict(model, inputs))
        except Exception:  # e.g. a transformer without predict: its outputs stay unknown
            outputs = ()
        signature = attrs.evolve(signature, outputs=outputs)
    return attrs.evolve(signature, example=infer(example).example)


def _numpy_outputs(result: Any) -> Any:
    import numpy

    if isinstance(result, Mapping):
        return {str(name): numpy.asarray(value) for name, value in result.items()}
    return numpy.asarray(result)


@attrs.frozen
class Predictor:
    """A loaded model ready to answer: ``predictor(inputs, **options) -> outputs``.

    Outputs are a numpy array, or ``{name: array}`` for a model with several outputs.
    Raises :class:`InputError` for inputs that do not fit the signature and
    :class:`PredictionNotSupportedError` when the plugin cannot predict.
    """

    model: Any
    serializer: Serializer
    signature: Signature | None
    source: str = "the model"  # the file's name, for messages

    @classmethod
    def from_artifact(cls, artifact: ModelArtifact, source: str | None = None) -> Predictor:
        from flm_core.plugins import Registry

        meta = artifact.meta
        serializer = Registry.current().serializer_named(meta.framework.lib,
                                                          meta.plugin.distribution)
        return cls(artifact.model, serializer, meta.model.signature,
                   source or f"the {meta.framework.lib} model")

    @property
    def can_predict(self) -> bool:
        return self.serializer.predict is not None

    def check(self, inputs: Any) -> Any:
        """``inputs`` as numpy arrays that fit the signature, or :class:`InputError`."""
        return check_inputs(self.signature, inputs)

    def __call__(self, inputs: Any, **options: Any) -> Any:
        if self.serializer.predict is None:
            raise PredictionNotSupportedError(
                f"{self.source}: its plugin {self.serializer.distribution} implements no "
                f"predict, so it loads but cannot serve; upgrade the plugin or call "
                f"the loaded model yourself")
        unknown = sorted(set(options) - self.serializer.predict_options)
        if unknown:
            accepted = ", ".join(sorted(self.serializer.predict_options)) or "none"
            raise OptionError(f"{self.serializer.name} predict does not accept "
                              f"{', '.join(unknown)} (accepts: {accepted})")
        checked = self.check(inputs)
        return _numpy_outputs(self.serializer.predict(self.model, checked, **options))


def predict(artifact: ModelArtifact, inputs: Any, **options: Any) -> Any:
    """Run a loaded model on ``inputs`` through its plugin, checked against its signature.

    Example::

        with flm_core.load("model.flm") as artifact:
            flm_core.predict(artifact, [[0.0, 1.0]])   # array([1])
    """
    return Predictor.from_artifact(artifact)(inputs, **options)
