"""The OpenAPI 3.0 schema of a server: the protocol's routes, and each model's flama routes
with its signature as the request and response schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flm_core.serve.codec import DATATYPES
from flm_core.serve.models import ServedModel
from flm_core.signature import TensorSpec

ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: Any, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "bad request", 404: "unknown model", 413: "body over the limit",
            500: "the model failed", 501: "the model's plugin cannot predict"}
    return {str(code): _json(ERROR, text[code]) for code in codes}


def _array(spec: TensorSpec | None) -> dict[str, Any]:
    """A nested JSON array for a spec (any array without one)."""
    if spec is None:
        return {"type": "array", "items": {}}
    leaf: dict[str, Any] = {"string": {"type": "string"}, "bool": {"type": "boolean"}}.get(
        "string" if spec.dtype == "str" else spec.dtype,
        {"type": "number"} if spec.dtype.startswith("float") else {"type": "integer"})
    schema = leaf
    for size in reversed(spec.shape):
        schema = {"type": "array", "items": schema}
        if size >= 0:
            schema.update(minItems=size, maxItems=size)
    return schema


def _model_paths(model: ServedModel) -> dict[str, Any]:
    signature = model.predictor.signature
    one_in = signature.inputs[0] if signature and len(signature.inputs) == 1 else None
    one_out = signature.outputs[0] if signature and len(signature.outputs) == 1 else None
    tag = [model.name]
    return {
        f"/{model.name}/": {"get": {
            "summary": f"{model.name}: metadata and artifact names (flama-compatible)",
            "tags": tag, "responses": {"200": _json({"type": "object"}), **_errors(404)}}},
        f"/{model.name}/predict/": {"post": {
            "summary": f"{model.name}: predict (flama-compatible)", "tags": tag,
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["input"],
                "properties": {"input": _array(one_in)}}}}},
            "responses": {"200": _json({"type": "object", "properties": {
                "output": _array(one_out)}}), **_errors(400, 404, 413, 500, 501)}}},
    }


def _tensor(with_data: bool) -> dict[str, Any]:
    props: dict[str, Any] = {"name": {"type": "string"},
                             "datatype": {"type": "string", "enum": list(DATATYPES)},
                             "shape": {"type": "array", "items": {"type": "integer"}}}
    if with_data:
        props["data"] = {"type": "array", "items": {}}
        props["parameters"] = {"type": "object"}
    return {"type": "object", "required": list(props)[:4 if with_data else 3],
            "properties": props}


def openapi(models: Mapping[str, ServedModel]) -> dict[str, Any]:
    """The schema served at ``/openapi.json``."""
    name = {"name": "name", "in": "path", "required": True,
            "schema": {"type": "string", "enum": sorted(models)}}
    tensor = {"$ref": "#/components/schemas/Tensor"}
    oip = ["Open Inference Protocol v2"]
    paths: dict[str, Any] = {
        "/v2/health/live": {"get": {"summary": "server live", "tags": oip,
                                    "responses": {"200": _json({"type": "object"})}}},
        "/v2/health/ready": {"get": {"summary": "server ready", "tags": oip,
                                     "responses": {"200": _json({"type": "object"})}}},
        "/v2": {"get": {"summary": "server metadata", "tags": oip,
                        "responses": {"200": _json({"type": "object"})}}},
        "/v2/models/{name}": {"get": {
            "summary": "model metadata", "tags": oip, "parameters": [name],
            "responses": {"200": _json({"type": "object", "properties": {
                "name": {"type": "string"}, "platform": {"type": "string"},
                "versions": {"type": "array", "items": {"type": "string"}},
                "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/Meta"}},
                "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/Meta"}},
            }}), **_errors(404)}}},
        "/v2/models/{name}/ready": {"get": {"summary": "model ready", "tags": oip,
                                            "parameters": [name],
                                            "responses": {"200": _json({"type": "object"}),
                                                          **_errors(404)}}},
        "/v2/models/{name}/infer": {"post": {
            "summary": "inference", "tags": oip, "parameters": [name],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["inputs"], "properties": {
                    "id": {"type": "string"}, "parameters": {"type": "object"},
                    "inputs": {"type": "array", "items": tensor},
                    "outputs": {"type": "array", "items": {"type": "object"}}}}}}},
            "responses": {"200": _json({"type": "object", "properties": {
                "model_name": {"type": "string"}, "id": {"type": "string"},
                "outputs": {"type": "array", "items": tensor}}}),
                **_errors(400, 404, 413, 500, 501)}}},
    }
    for model in models.values():
        paths.update(_model_paths(model))
    return {
        "openapi": "3.0.3",
        "info": {"title": "flm serve", "version": "1",
                 "description": "FLM models over the Open Inference Protocol v2 and "
                                "flama-compatible routes."},
        "paths": paths,
        "components": {"schemas": {
            "Tensor": _tensor(True), "Meta": _tensor(False),
            "Error": {"type": "object", "required": ["error"],
                      "properties": {"error": {"type": "string"}}}}},
    }
