"""Real ``flm serve`` processes on loopback, started and stopped by the tests.

The modules here need the ``serve`` extra, numpy and httpx: each skips itself, with the
reason, where they are missing (the plain ``tests`` sessions); ``nox -s serve`` has them.
The fake plugin under ``fakeplugin/`` (a slow model, a model whose plugin cannot predict)
reaches the server through PYTHONPATH, and the files are written by a subprocess that sees
it, so this process's plugin manager never does.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

FAKE = Path(__file__).parent / "fakeplugin"
NEEDS = "needs flm-core[serve], numpy and httpx (nox -s serve)"


def needs_serve() -> None:
    for name in ("numpy", "starlette", "uvicorn", "httpx"):
        pytest.importorskip(name, reason=NEEDS)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_with_fake_plugin() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(FAKE), env.get("PYTHONPATH")]))
    return env


@attrs.define
class Server:
    """A running ``flm serve``; ``stop()`` sends SIGINT and returns the exit status."""

    process: subprocess.Popen[str]
    url: str

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    def output(self) -> str:
        return self.process.stderr.read() if self.process.stderr else ""


def start(*args: str, timeout: float = 120) -> Server:
    """``flm serve ARGS`` on a free loopback port, once it answers ready."""
    import httpx

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "flm_core", "serve", *args, "--port", str(port),
         "--log-level", "warning"],
        env=env_with_fake_plugin(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    server = Server(process, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"flm serve exited with {process.returncode}: "
                                 f"{server.output()}")
        try:
            if httpx.get(f"{server.url}/v2/health/ready", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop(signal.SIGKILL)
    raise AssertionError(f"flm serve did not become ready in {timeout} s")


def dump_fake(path: Path, model: str) -> Path:
    """Write a fake-plugin model (``Sleepy(0.5)``, ``Mute()``) from a subprocess."""
    script = ("import sys, flm_core, flm_servetest as t\n"
              f"flm_core.dump({model}, sys.argv[1])\n")
    subprocess.run([sys.executable, "-c", script, str(path)], env=env_with_fake_plugin(),
                   check=True)
    return path


XOR = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]


def seed_sklearn() -> Any:
    """The seed's XOR model: MLPClassifier(tanh, 2000 iterations, 10 hidden units)."""
    numpy = pytest.importorskip("numpy")
    neural = pytest.importorskip("sklearn.neural_network", reason="needs flm-sklearn")
    return neural.MLPClassifier(activation="tanh", max_iter=2000, hidden_layer_sizes=(10,),
                                random_state=7).fit(numpy.array(XOR), [0, 1, 1, 0])


@pytest.fixture(scope="session")
def xor_model() -> Any:
    return seed_sklearn()


@pytest.fixture(scope="session")
def fake_env() -> dict[str, str]:
    """The environment of a process that sees the fake plugin."""
    return env_with_fake_plugin()


@pytest.fixture(scope="session")
def start_server() -> Any:
    """``start_server(*args)``: a running ``flm serve ARGS`` (stop it yourself)."""
    needs_serve()
    return start


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory, xor_model: Any) -> dict[str, Path]:
    """xor.flm (sklearn, with an artifact), sleepy.flm (0.5 s a call) and mute.flm."""
    needs_serve()
    import flm_core

    root = tmp_path_factory.mktemp("serve")
    (root / "labels.json").write_text('["zero", "one"]')
    flm_core.dump(xor_model, root / "xor.flm", artifacts={"labels.json":
                                                               root / "labels.json"})
    return {"xor": root / "xor.flm",
            "sleepy": dump_fake(root / "sleepy.flm", "t.Sleepy(0.5)"),
            "mute": dump_fake(root / "mute.flm", "t.Mute()")}


@pytest.fixture(scope="module")
def server(files: dict[str, Path]) -> Iterator[Server]:
    """xor, sleepy and mute behind one server, bodies limited to 64 KiB."""
    running = start(str(files["xor"]), str(files["sleepy"]), f"quiet={files['mute']}",
                    "--max-body", "65536", "--workers", "4")
    try:
        yield running
    finally:
        assert running.stop() == 0, running.output()
