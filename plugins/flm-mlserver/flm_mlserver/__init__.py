"""An MLServer runtime for FLM files: ``"implementation": "flm_mlserver.FLMRuntime"``.

``load()`` opens the ``.flm`` file named by the model's ``parameters.uri`` (a path
relative to ``model-settings.json``, or a URL where ``flm-core[remote]`` is installed)
through its framework's plugin; ``predict()`` decodes the Open Inference Protocol request
with MLServer's own ``NumpyCodec``, checks it against the file's signature and runs the
plugin's inference in a thread, so MLServer's event loop stays free. MLServer answers the
protocol's HTTP and gRPC routes, and runs under KServe and Seldon Core.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.errors import InferenceError, MLServerError
from mlserver.types import (
    InferenceRequest,
    InferenceResponse,
    MetadataTensor,
    ResponseOutput,
)
from mlserver.utils import get_model_uri

from flm_core import FLMError, InputError, OptionError, PredictionNotSupportedError
from flm_core.inference import Predictor
from flm_core.serve.codec import datatype, encode_tensor, output_arrays

__all__ = ["FLMRuntime"]


class FLMRuntime(MLModel):  # type: ignore[misc]  # MLModel is untyped
    """Serves one ``.flm`` file; its signature becomes the model's metadata."""

    async def load(self) -> bool:
        import flm_core

        uri = await get_model_uri(self._settings)
        try:
            self._artifact = await asyncio.to_thread(flm_core.load, uri)
        except (FLMError, OSError) as exc:
            raise MLServerError(f"{uri}: {exc}", status_code=500) from exc
        self._predictor = Predictor.from_artifact(self._artifact, source=uri)
        signature = self._predictor.signature
        if signature is not None:  # MLServer's GET /v2/models/{name} reads these
            self._settings.inputs = [_tensor(s) for s in signature.inputs]
            self._settings.outputs = [_tensor(s) for s in signature.outputs]
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        signature = self._predictor.signature
        decoded = {i.name: NumpyCodec.decode_input(i) for i in payload.inputs}
        several = signature is not None and len(signature.inputs) > 1
        # one input: its name in the request is the client's choice, as in MLServer's runtimes
        inputs: Any = decoded if several or len(decoded) != 1 else next(iter(decoded.values()))
        try:
            outputs = await asyncio.to_thread(self._predictor, inputs)
        except (InputError, OptionError) as exc:
            raise InferenceError(str(exc)) from exc
        except PredictionNotSupportedError as exc:
            raise MLServerError(str(exc), status_code=501) from exc
        arrays = output_arrays(outputs, signature)
        return InferenceResponse(
            model_name=self.name, model_version=self.version, id=payload.id,
            # not NumpyCodec.encode_output: it turns a batch of scalars [N] into [N, 1]; the
            # response keeps the shape the model returned, as its signature says
            outputs=[ResponseOutput(**encode_tensor(name, a)) for name, a in arrays.items()])


def _tensor(spec: Any) -> MetadataTensor:
    return MetadataTensor(name=spec.name, datatype=datatype(spec.dtype), shape=list(spec.shape))
