"""The server as a process: the seed's three models answer exactly as called directly,
8 clients x 200 requests all answered correctly, and a graceful stop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest

NEEDS = "needs flm-core[serve], numpy and httpx (nox -s serve)"
httpx = pytest.importorskip("httpx", reason=NEEDS)
numpy = pytest.importorskip("numpy", reason=NEEDS)
# keras's own numpy conversion warns under numpy 2 (see the tensorflow plugin's tests)
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
XOR = numpy.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32")


def seed_keras() -> Any:
    keras = pytest.importorskip("keras", reason="needs flm-tensorflow")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Flatten(),
                              keras.layers.Dense(10, "tanh"), keras.layers.Dense(1, "sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy")
    model.fit(XOR, numpy.array([0, 1, 1, 0], "float32"), epochs=50, verbose=0)
    return model


def seed_torch() -> Any:
    torch = pytest.importorskip("torch", reason="needs flm-torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 10), torch.nn.Tanh(),
                                torch.nn.Linear(10, 1), torch.nn.Sigmoid())
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    x, y = torch.tensor(XOR), torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    for _ in range(200):
        optimizer.zero_grad()
        torch.nn.functional.binary_cross_entropy(model(x), y).backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="module")
def seeds(files: dict[str, Path], xor_model: Any, tmp_path_factory: Any) -> dict[str, Any]:
    """Each seed model, its file, and what calling it directly gives on XOR."""
    import flm_core

    root = tmp_path_factory.mktemp("seeds")
    keras_model, torch_model = seed_keras(), seed_torch()
    flm_core.dump(keras_model, root / "keras.flm")
    flm_core.dump(torch_model, root / "torch.flm")
    import torch

    with torch.inference_mode():
        torch_out = torch_model(torch.from_numpy(XOR)).numpy()
    return {
        "xor": (files["xor"], "FP64", xor_model.predict(XOR.astype("float64"))),
        "keras": (root / "keras.flm", "FP32", keras_model(XOR, training=False).numpy()),
        "torch": (root / "torch.flm", "FP32", torch_out),
    }


@pytest.fixture(scope="module")
def seed_server(seeds: dict[str, Any], start_server: Any) -> Any:
    running = start_server(*(f"{name}={path}" for name, (path, _, _) in seeds.items()))
    try:
        yield running
    finally:
        assert running.stop() == 0, running.output()


@pytest.mark.parametrize("name", ["xor", "keras", "torch"])
def test_seed_models_answer_exactly_as_called_directly(seed_server: Any, seeds: Any,
                                                       name: str) -> None:
    _, datatype, expected = seeds[name]
    request = {"inputs": [{"name": "input", "shape": [4, 2], "datatype": datatype,
                           "data": XOR.reshape(-1).tolist()}]}
    body = httpx.post(f"{seed_server.url}/v2/models/{name}/infer", json=request).json()
    (output,) = body["outputs"]
    got = numpy.asarray(output["data"], dtype=expected.dtype).reshape(output["shape"])
    assert got.tobytes() == expected.tobytes() and got.shape == expected.shape
    flama = httpx.post(f"{seed_server.url}/{name}/predict/", json={"input": XOR.tolist()})
    got = numpy.asarray(flama.json()["output"], dtype=expected.dtype)
    assert got.tobytes() == expected.tobytes()
    meta = httpx.get(f"{seed_server.url}/v2/models/{name}").json()
    assert meta["inputs"][0]["shape"] == [-1, 2] and meta["inputs"][0]["datatype"] == datatype


def test_eight_clients_two_hundred_requests_each_all_correct(server: Any,
                                                             xor_model: Any) -> None:
    answers = dict(zip(map(tuple, XOR.tolist()), xor_model.predict(XOR.astype(float)).tolist(),
                       strict=True))

    async def client(seed: int) -> int:
        rng = random.Random(seed)
        correct = 0
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            for i in range(200):
                rows = [list(rng.choice(list(answers))) for _ in range(rng.randint(1, 8))]
                want = [answers[tuple(r)] for r in rows]
                if i % 2:
                    response = await http.post("/xor/predict/", json={"input": rows})
                    got = response.json()["output"]
                else:
                    response = await http.post("/v2/models/xor/infer", json={"inputs": [
                        {"name": "input", "shape": [len(rows), 2], "datatype": "FP64",
                         "data": [v for r in rows for v in r]}]})
                    got = response.json()["outputs"][0]["data"]
                assert response.status_code == 200, response.text
                assert got == want
                correct += 1
        return correct

    async def run_all() -> list[int]:
        return await asyncio.gather(*(client(seed) for seed in range(8)))

    assert asyncio.run(run_all()) == [200] * 8


def test_shutdown_finishes_requests_in_flight(files: dict[str, Path],
                                              start_server: Any) -> None:
    running = start_server(str(files["sleepy"]))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow = pool.submit(httpx.post, f"{running.url}/sleepy/predict/",
                           json={"input": [[1.5]]}, timeout=30)
        time.sleep(0.2)  # the request is in flight: the model sleeps 0.5 s
        assert running.stop(signal.SIGTERM) == 0, running.output()
        response = slow.result()
    assert response.status_code == 200 and response.json() == {"output": [[3.0]]}
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{running.url}/v2/health/live", timeout=2)


def test_files_given_as_urls_are_served(files: dict[str, Path], start_server: Any,
                                        xor_model: Any) -> None:
    pytest.importorskip("fsspec", reason="URLs need flm-core[remote] (nox -s serve has it)")
    url = files["xor"].as_uri()  # file://...: the same fsspec path as s3:// or https://
    running = start_server(url)  # named after the URL's stem
    try:
        response = httpx.post(f"{running.url}/xor/predict/", json={"input": XOR.tolist()})
        assert response.json() == {"output": xor_model.predict(XOR.astype(float)).tolist()}
    finally:
        assert running.stop() == 0, running.output()
