"""Every route of ``flm serve`` over real HTTP, the error paths included.

The OIP requests are written from the protocol's specification alone (KServe's "Open
Inference Protocol (V2)"): JSON tensors with name, shape, datatype and row-major data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

NEEDS = "needs flm-core[serve], numpy and httpx (nox -s serve)"
httpx = pytest.importorskip("httpx", reason=NEEDS)
numpy = pytest.importorskip("numpy", reason=NEEDS)
XOR = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
Server = Any  # conftest.Server: .url, .stop()


def oip(rows: Any, datatype: str = "FP64", name: str = "input", **extra: Any) -> dict[str, Any]:
    flat = numpy.asarray(rows).reshape(-1).tolist()
    return {"inputs": [{"name": name, "shape": list(numpy.shape(rows)), "datatype": datatype,
                        "data": flat}], **extra}


def test_health_live_and_ready(server: Server) -> None:
    assert httpx.get(f"{server.url}/v2/health/live").status_code == 200
    ready = httpx.get(f"{server.url}/v2/health/ready")
    assert ready.status_code == 200 and ready.json() == {"ready": True}


def test_server_metadata_names_the_server(server: Server) -> None:
    body = httpx.get(f"{server.url}/v2").json()
    assert body["name"] == "flm" and body["extensions"] == [] and body["version"]


def test_model_metadata_comes_from_the_signature(server: Server) -> None:
    body = httpx.get(f"{server.url}/v2/models/xor").json()
    assert body["name"] == "xor" and body["platform"] == "flm-sklearn"
    assert body["inputs"] == [{"name": "input", "datatype": "FP64", "shape": [-1, 2]}]
    assert body["outputs"] == [{"name": "output", "datatype": "INT64", "shape": [-1]}]


def test_model_ready(server: Server) -> None:
    response = httpx.get(f"{server.url}/v2/models/xor/ready")
    assert response.status_code == 200 and response.json() == {"name": "xor", "ready": True}


def test_infer_answers_as_the_model_does(server: Server, xor_model: Any) -> None:
    expected = xor_model.predict(numpy.array(XOR))
    response = httpx.post(f"{server.url}/v2/models/xor/infer", json=oip(XOR, id="req-1"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == "xor" and body["id"] == "req-1"
    assert body["outputs"] == [{"name": "output", "datatype": "INT64", "shape": [4],
                                "data": expected.tolist()}]


def test_infer_takes_nested_data_and_other_numeric_datatypes(
    server: Server, xor_model: Any
) -> None:
    request = oip(XOR)
    request["inputs"][0].update(data=[[0, 0], [0, 1], [1, 0], [1, 1]], datatype="INT32")
    body = httpx.post(f"{server.url}/v2/models/xor/infer", json=request).json()
    assert body["outputs"][0]["data"] == xor_model.predict(numpy.array(XOR)).tolist()


def test_infer_returns_only_the_outputs_asked_for(server: Server) -> None:
    body = httpx.post(f"{server.url}/v2/models/xor/infer",
                      json=oip(XOR, outputs=[{"name": "output"}])).json()
    assert [o["name"] for o in body["outputs"]] == ["output"]
    response = httpx.post(f"{server.url}/v2/models/xor/infer",
                          json=oip(XOR, outputs=[{"name": "proba"}]))
    assert response.status_code == 400 and "proba" in response.json()["error"]


@pytest.mark.parametrize(("body", "says"), [
    (b"{not json", "not valid JSON"),
    (b'{"inputs": []}', "non-empty list of inputs"),
    (b'[1, 2]', "JSON object"),
    (b'{"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP64"}]}', "no data"),
    (b'{"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP99", "data": [0, 1]}]}',
     "FP99"),
    (b'{"inputs": [{"name": "input", "shape": [2, 2], "datatype": "FP64", "data": [0, 1]}]}',
     "holds 4 values but data has 2"),
    (b'{"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP64", "data": [0, 1, 2]}]}',
     "2 features"),
    (b'{"inputs": [{"name": "input", "shape": [2], "datatype": "FP64", "data": [0, 1]}]}',
     "rank 2"),
    (b'{"inputs": [{"name": "input", "shape": [1, 2], "datatype": "BYTES", "data": ["a", "b"]}]}',
     "non-numeric"),
    (b'{"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP64", "data": ["a", 1]}]}',
     "FP64"),
])
def test_infer_answers_400_naming_what_is_wrong(server: Server, body: bytes, says: str) -> None:
    response = httpx.post(f"{server.url}/v2/models/xor/infer", content=body,
                          headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert says in response.json()["error"]


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v2/models/nope"), ("GET", "/v2/models/nope/ready"),
    ("POST", "/v2/models/nope/infer"), ("GET", "/nope/"), ("POST", "/nope/predict/"),
])
def test_unknown_model_is_404(server: Server, method: str, path: str) -> None:
    response = httpx.request(method, server.url + path, json=oip(XOR))
    assert response.status_code == 404
    assert "unknown model 'nope'" in response.json()["error"]


def test_body_over_the_limit_is_413(server: Server) -> None:
    rows = [[0.0, 1.0]] * 20000  # ~200 KB of JSON; the server takes 64 KiB
    response = httpx.post(f"{server.url}/v2/models/xor/infer", json=oip(rows))
    assert response.status_code == 413 and "65536" in response.json()["error"]


def test_chunked_body_over_the_limit_is_413(server: Server) -> None:
    def chunks() -> Any:
        yield b'{"inputs": ['
        for _ in range(100):
            yield b" " * 1024  # no Content-Length: counted as read

    response = httpx.post(f"{server.url}/v2/models/xor/infer", content=chunks())
    assert response.status_code == 413


def test_model_without_inference_is_501(server: Server) -> None:
    response = httpx.post(f"{server.url}/v2/models/quiet/infer", json=oip([[1.0]]))
    assert response.status_code == 501
    assert "flm-servetest implements no predict" in response.json()["error"]
    response = httpx.post(f"{server.url}/quiet/predict/", json={"input": [[1.0]]})
    assert response.status_code == 501
    assert httpx.get(f"{server.url}/v2/models/quiet").json()["inputs"] == []  # no signature


def test_flama_inspect_returns_metadata_and_artifacts(server: Server, files: Any) -> None:
    body = httpx.get(f"{server.url}/xor/").json()
    assert body["meta"]["framework"]["lib"] == "sklearn"
    assert body["meta"]["model"]["signature"]["inputs"][0]["shape"] == [-1, 2]
    assert list(body["artifacts"]) == ["labels.json"]
    assert Path(body["artifacts"]["labels.json"]).read_text() == '["zero", "one"]'


def test_flama_predict_takes_input_and_returns_output(server: Server, xor_model: Any) -> None:
    response = httpx.post(f"{server.url}/xor/predict/", json={"input": XOR})
    assert response.status_code == 200
    assert response.json() == {"output": xor_model.predict(numpy.array(XOR)).tolist()}


@pytest.mark.parametrize(("body", "says"), [
    ({"inputs": XOR}, '{"input"'), ({"input": [[0, 1, 2]]}, "2 features"),
    ({"input": [[0, "x"]]}, "non-numeric"), ({"input": [[0], [1, 2]]}, "rectangular"),
])
def test_flama_predict_answers_400(server: Server, body: Any, says: str) -> None:
    response = httpx.post(f"{server.url}/xor/predict/", json=body)
    assert response.status_code == 400 and says in response.json()["error"]


def test_openapi_schema_and_docs_page(server: Server) -> None:
    schema = httpx.get(f"{server.url}/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    assert {"/v2/models/{name}/infer", "/xor/predict/", "/sleepy/", "/v2/health/ready"} <= set(
        schema["paths"])
    xor_input = schema["paths"]["/xor/predict/"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]["properties"]["input"]
    assert xor_input["items"] == {"type": "array", "items": {"type": "number"},
                                  "minItems": 2, "maxItems": 2}
    page = httpx.get(f"{server.url}/docs/")
    assert page.status_code == 200 and "/openapi.json" in page.text


def test_a_slow_prediction_does_not_block_health_checks(server: Server) -> None:
    import concurrent.futures
    import time

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow = pool.submit(httpx.post, f"{server.url}/sleepy/predict/",
                           json={"input": [[1.0]]}, timeout=30)
        time.sleep(0.1)
        started = time.monotonic()
        assert httpx.get(f"{server.url}/v2/health/live").status_code == 200
        assert time.monotonic() - started < 0.3  # the model sleeps 0.5 s
        assert slow.result().json() == {"output": [[2.0]]}
