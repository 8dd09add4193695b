"""The runtime under the real ``mlserver start``, on loopback, answering OIP requests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy
import pytest
from sklearn.neural_network import MLPClassifier

import flm_core

XOR = numpy.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def model() -> Any:
    """The seed's XOR model."""
    return MLPClassifier(activation="tanh", max_iter=2000, hidden_layer_sizes=(10,),
                         random_state=7).fit(XOR, [0, 1, 1, 0])


@pytest.fixture(scope="module")
def mlserver(model: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("mlserver")
    (root / "xor").mkdir()
    flm_core.dump(model, root / "xor" / "xor.flm")
    (root / "xor" / "model-settings.json").write_text(json.dumps({
        "name": "xor", "implementation": "flm_mlserver.FLMRuntime",
        "parameters": {"uri": "./xor.flm"}}))
    http = _port()
    (root / "settings.json").write_text(json.dumps({
        "host": "127.0.0.1", "http_port": http, "grpc_port": _port(),
        "metrics_port": _port(), "parallel_workers": 0}))
    command = [str(Path(sys.executable).parent / "mlserver"), "start", str(root)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env={**os.environ, "MLSERVER_METRICS_DIR": str(root)})
    url = f"http://127.0.0.1:{http}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                if httpx.get(f"{url}/v2/models/xor/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "mlserver did not become ready in 120 s"
            time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


def test_model_metadata_comes_from_the_signature(mlserver: str) -> None:
    body = httpx.get(f"{mlserver}/v2/models/xor").json()
    assert body["name"] == "xor"
    assert body["inputs"] == [{"name": "input", "datatype": "FP64", "shape": [-1, 2]}]
    assert body["outputs"] == [{"name": "output", "datatype": "INT64", "shape": [-1]}]


def test_infer_answers_as_the_model_does(mlserver: str, model: Any) -> None:
    request = {"id": "r1", "inputs": [{"name": "input", "shape": [4, 2], "datatype": "FP64",
                                       "data": XOR.reshape(-1).tolist()}]}
    response = httpx.post(f"{mlserver}/v2/models/xor/infer", json=request)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == "xor" and body["id"] == "r1"
    (output,) = body["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == ("output", "INT64", [4])
    assert output["data"] == model.predict(XOR).tolist()


def test_inputs_that_do_not_fit_are_a_400_naming_the_signature(mlserver: str) -> None:
    request = {"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP64",
                           "data": [0.0, 1.0, 2.0]}]}
    response = httpx.post(f"{mlserver}/v2/models/xor/infer", json=request)
    assert response.status_code == 400
    assert "expected float64 [-1, 2], 2 features" in response.json()["error"]


def test_an_unknown_model_is_a_404(mlserver: str) -> None:
    assert httpx.get(f"{mlserver}/v2/models/nope").status_code == 404
