"""Serving benchmark: ``flm serve`` against ``flama serve`` (flama 2.2.2, its own venv).

    FLM_BENCH_FLAMA_PYTHON=/path/to/flama-venv/bin/python python -m benchmarks.serving

For the seed's XOR model (sklearn MLPClassifier, tanh, 10 hidden units) and a medium model
(MLPClassifier, 256x256 hidden units, 64 features), each server in turn serves the model
alone, and one client, the same for both, sends ``POST /{name}/predict/`` with
``{"input": [[...]]}`` (one row), the route both servers speak: throughput and p50/p99
latency with 1 and with 8 concurrent clients, after a warm-up. ``flm serve``'s Open
Inference Protocol route is measured too. The floor is the direct in-process call:
``model.predict`` on the same row, and the same through ``flm_core.predict`` (signature
check included). flama is skipped, saying so, when FLM_BENCH_FLAMA_PYTHON is unset.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pickle
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

FLAMA_DUMP = """
import pickle, sys
import flama.serialize
with open(sys.argv[1], "rb") as f:  # our own pickle, written a moment ago by the bench
    model = pickle.load(f)
flama.serialize.dump(model, path=sys.argv[2], family="ml")
"""


def models() -> dict[str, tuple[Any, list[list[float]]]]:
    """name -> (fitted model, one input row)."""
    import numpy
    from sklearn.neural_network import MLPClassifier

    xor_x = numpy.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    xor = MLPClassifier(activation="tanh", max_iter=2000, hidden_layer_sizes=(10,),
                        random_state=7).fit(xor_x, [0, 1, 1, 0])
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal((2000, 64))
    y = (x[:, :8].sum(axis=1) > 0).astype(int)
    medium = MLPClassifier(hidden_layer_sizes=(256, 256), max_iter=30,
                           random_state=0).fit(x, y)
    return {"xor": (xor, [[0.0, 1.0]]), "medium": (medium, x[:1].tolist())}


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running(command: list[str], url: str, probe: str) -> Iterator[str]:
    import httpx

    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[:3]} exited: {process.stderr.read()!r:.2000}")
            try:
                if httpx.get(url + probe, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[:3]} did not start in 180 s")
            time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def load(url: str, path: str, body: dict[str, Any] | None, clients: int, requests: int,
         check: Callable[[Any], bool]) -> dict[str, float]:
    """``clients`` concurrent keep-alive clients, ``requests`` each; every answer checked.
    No ``body``: a GET (the HTTP floor: what a request costs without a model)."""
    import httpx

    async def client(http: httpx.AsyncClient, times: list[float]) -> None:
        for _ in range(requests):
            started = time.perf_counter()
            response = await (http.get(path) if body is None else http.post(path, json=body))
            times.append(time.perf_counter() - started)
            if response.status_code != 200 or not check(response.json()):
                raise RuntimeError(f"{url}{path}: wrong answer {response.text:.200}")

    async def main() -> tuple[float, list[float]]:
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
            for _ in range(20):  # warm-up: connections, first-call costs
                await (http.get(path) if body is None else http.post(path, json=body))
            times: list[float] = []
            started = time.perf_counter()
            await asyncio.gather(*(client(http, times) for _ in range(clients)))
            return time.perf_counter() - started, times

    wall, times = asyncio.run(main())
    times.sort()
    return {"rps": len(times) / wall, "p50": 1000 * times[len(times) // 2],
            "p99": 1000 * times[min(len(times) - 1, int(len(times) * 0.99))]}


def floor(model: Any, row: list[list[float]], path: Path) -> dict[str, float]:
    """Milliseconds per direct call: ``model.predict`` and ``flm_core.predict``."""
    import numpy

    import flm_core

    x = numpy.asarray(row)
    result = {}
    with flm_core.load(path) as artifact:
        for name, call in (("predict", lambda: model.predict(x)),
                           ("flm_core.predict", lambda: flm_core.predict(artifact, row))):
            for _ in range(50):  # warm-up
                call()
            runs = []
            for _ in range(7):
                started = time.perf_counter()
                for _ in range(200):
                    call()
                runs.append((time.perf_counter() - started) / 200 * 1000)
            result[name] = statistics.median(runs)
    return result


def _flama_server(flama: str, name: str, model: Any, work: Path) -> tuple[list[str], str]:
    """The ``flama serve`` command for ``model``, dumped by flama 2.2.2 in its venv."""
    with open(work / f"{name}.pkl", "wb") as out:
        pickle.dump(model, out)
    flama_file = work / f"{name}-flama.flm"
    subprocess.run([flama, "-c", FLAMA_DUMP, str(work / f"{name}.pkl"), str(flama_file)],
                   check=True)
    port = _port()
    return ([str(Path(flama).parent / "flama"), "serve", "--model",
             f"file={flama_file},url=/{name}/,name={name}", "--server-port", str(port),
             "--server-log-level", "warning"], f"http://127.0.0.1:{port}")


def _median(results: list[dict[str, float]]) -> dict[str, float]:
    """The round with the median throughput: on a shared machine, rounds differ."""
    return sorted(results, key=lambda r: r["rps"])[len(results) // 2]


def measure(requests: int, rounds: int) -> list[dict[str, Any]]:
    """Both servers run at once; the measurements alternate between them, ``rounds``
    times, so that load from elsewhere on the machine falls on both alike."""
    import flm_core

    flama = os.environ.get("FLM_BENCH_FLAMA_PYTHON")
    if not flama:
        print("flama: skipped (FLM_BENCH_FLAMA_PYTHON is not set)", file=sys.stderr)
    rows: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="flm-serve-bench-"))
    for name, (model, row) in models().items():
        flm_file = work / f"{name}.flm"
        flm_core.dump(model, flm_file)
        expected = model.predict(row).tolist()
        direct = floor(model, row, flm_file)
        for call in ("predict", "flm_core.predict"):
            rows.append({"model": name, "server": f"direct {call}", "route": "-",
                         **{f"c{c}": {"p50": direct[call]} for c in (1, 8)}})
        port = _port()
        flm_command = [sys.executable, "-m", "flm_core", "serve", f"{name}={flm_file}",
                       "--port", str(port), "--log-level", "warning"]
        flama_route = f"/{name}/predict/"
        oip = {"inputs": [{"name": "input", "shape": [1, len(row[0])], "datatype": "FP64",
                           "data": row[0]}]}
        targets = [  # (server, route, body, check)
            ("flm serve, no model (HTTP floor)", "/v2/health/live", None,
             lambda b: b == {"live": True}),
            ("flm serve", flama_route, {"input": row}, lambda b, e=expected: b["output"] == e),
            ("flm serve", f"/v2/models/{name}/infer", oip,
             lambda b, e=expected: b["outputs"][0]["data"] == e)]
        with contextlib.ExitStack() as stack:
            urls = {"flm serve": stack.enter_context(
                running(flm_command, f"http://127.0.0.1:{port}", "/v2/health/ready"))}
            urls["flm serve, no model (HTTP floor)"] = urls["flm serve"]
            if flama:
                command, url = _flama_server(flama, name, model, work)
                urls["flama serve 2.2.2"] = stack.enter_context(running(command, url,
                                                                        f"/{name}/"))
                targets.append(("flama serve 2.2.2", flama_route, {"input": row},
                                lambda b, e=expected: b["output"] == e))
            results: dict[tuple[int, int], list[dict[str, float]]] = {}
            for _ in range(rounds):
                for clients in (1, 8):
                    for index, (server, route, body, check) in enumerate(targets):
                        results.setdefault((index, clients), []).append(load(
                            urls[server], route, body, clients, requests // clients, check))
        for index, (server, route, _, _) in enumerate(targets):
            rows.append({"model": name, "server": server, "route": route,
                         **{f"c{c}": _median(results[(index, c)]) for c in (1, 8)}})
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| model | server | route | req/s, 1 client | p50 / p99 ms, 1 client "
             "| req/s, 8 clients | p50 / p99 ms, 8 clients |",
             "|---|---|---|---:|---:|---:|---:|"]
    for row in rows:
        cells = []
        for c in ("c1", "c8"):
            m = row[c]
            if "rps" in m:
                cells += [f"{m['rps']:.0f}", f"{m['p50']:.2f} / {m['p99']:.2f}"]
            else:
                cells += ["-", f"{m['p50']:.3f} (per call)"]
        lines.append(f"| {row['model']} | {row['server']} | `{row['route']}` | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000,
                        help="requests per measurement, split across the clients (1000)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating rounds per measurement; the median is kept (3)")
    args = parser.parse_args(argv)
    print(table(measure(args.requests, args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
