"""The routes: plain functions, listed in :data:`routes`. The Open Inference Protocol v2
under ``/v2``, flama's ``/{name}/`` and ``/{name}/predict/``, the OpenAPI schema and a docs
page. Model calls, with the decoding and encoding around them, run in the app's thread pool:
a slow prediction never blocks a health check.

Errors are ``{"error": "..."}``: 400 for a bad request, 404 for an unknown model, 413 for
a body over the limit, 501 for a model whose plugin cannot predict, 500 when the model
itself fails.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from flm_core.errors import InputError, OptionError, PredictionNotSupportedError
from flm_core.serve import codec
from flm_core.serve.models import ServedModel


class HTTPError(Exception):
    """Answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _model(request: Request) -> ServedModel:
    name = request.path_params["name"]
    models: dict[str, ServedModel] = request.app.state.models
    if name not in models:
        served = ", ".join(sorted(models)) or "none"
        raise HTTPError(404, f"unknown model {name!r}; served: {served}")
    return models[name]


async def _body(request: Request) -> Any:
    raw = await request.body()  # the size limit is enforced while it is read (app.BodyLimit)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPError(400, f"the request body is not valid JSON: {exc}") from None


def _run(model: ServedModel, inputs: Any) -> Any:
    try:
        return model.predictor(inputs)
    except (InputError, OptionError, PredictionNotSupportedError):
        raise
    except Exception as exc:  # the framework failed on inputs the signature admitted
        raise HTTPError(500, f"model {model.name!r} failed: {type(exc).__name__}: {exc}") \
            from exc


async def _off_loop(request: Request, work: Callable[[], Any]) -> Any:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(request.app.state.pool, work)


# --- Open Inference Protocol v2 ---------------------------------------------------------

async def live(request: Request) -> Response:
    return JSONResponse({"live": True})


async def ready(request: Request) -> Response:
    is_ready = bool(request.app.state.ready)
    return JSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)


async def server_metadata(request: Request) -> Response:
    return JSONResponse(request.app.state.server_metadata)


async def model_metadata(request: Request) -> Response:
    return JSONResponse(_model(request).oip_metadata())


async def model_ready(request: Request) -> Response:
    model = _model(request)
    is_ready = bool(request.app.state.ready)
    return JSONResponse({"name": model.name, "ready": is_ready},
                        status_code=200 if is_ready else 503)


async def infer(request: Request) -> Response:
    model = _model(request)
    body = await _body(request)
    signature = model.predictor.signature

    def work() -> dict[str, Any]:
        inputs, wanted = codec.decode_request(body, signature)
        outputs = _run(model, inputs)
        request_id = body.get("id") if isinstance(body, dict) else None
        return codec.encode_response(model.name, outputs, signature, request_id, wanted)

    return JSONResponse(await _off_loop(request, work))


# --- flama-compatible ---------------------------------------------------------------------

async def flama_inspect(request: Request) -> Response:
    return JSONResponse(_model(request).flama_metadata())


def _listed(outputs: Any) -> Any:
    if isinstance(outputs, dict):
        return {name: value.tolist() for name, value in outputs.items()}
    return outputs.tolist()


async def flama_predict(request: Request) -> Response:
    model = _model(request)
    body = await _body(request)
    if not isinstance(body, dict) or "input" not in body:
        raise HTTPError(400, 'the request body must be {"input": [[...], ...]}')
    return JSONResponse({"output": await _off_loop(
        request, lambda: _listed(_run(model, body["input"])))})


# --- schema and docs ----------------------------------------------------------------------

async def openapi_schema(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


DOCS_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>flm serve</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
</head><body><div id="ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});</script>
<noscript>The schema is at <a href="/openapi.json">/openapi.json</a>.</noscript>
</body></html>"""


async def docs(request: Request) -> Response:
    return HTMLResponse(DOCS_PAGE)


routes = [
    Route("/v2/health/live", live, methods=["GET"]),
    Route("/v2/health/ready", ready, methods=["GET"]),
    Route("/v2", server_metadata, methods=["GET"]),
    Route("/v2/models/{name}", model_metadata, methods=["GET"]),
    Route("/v2/models/{name}/ready", model_ready, methods=["GET"]),
    Route("/v2/models/{name}/infer", infer, methods=["POST"]),
    Route("/openapi.json", openapi_schema, methods=["GET"]),
    Route("/docs/", docs, methods=["GET"]),
    Route("/{name}/", flama_inspect, methods=["GET"]),
    Route("/{name}/predict/", flama_predict, methods=["POST"]),
]
