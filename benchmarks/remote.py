"""Loading from object storage: moto's S3 server on loopback (its own process) vs local disk
vs the floor of s3fs's plain ``cat`` of the same object; read_meta's bytes on the wire.

    python -m benchmarks.remote [--size-mb 400] [--runs 5] [--out docs/benchmarks-remote.md]

Needs ``flm-core[remote]``, s3fs and moto[server]. The model is a stand-in of the 400 MB
torch MLP: float32 weights with a narrow exponent and random mantissas (zstd stores them at
about the ratio real weights get), written by a throwaway plugin and read back into one
buffer, so the figures are the container's and the transfer's, not a framework's.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import io
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flm_core
from flm_core.plugins import get_plugin_manager
from flm_core.remote import ranges

MB = 1_000_000
SLOW_RATE, SLOW_LATENCY = 80 * MB, 0.02
SLOW = f"HTTP at {SLOW_RATE // MB} MB/s and {SLOW_LATENCY * 1000:.0f} ms per connection"
_EXPONENT = bytes((b & 0x80) | 0x3C for b in range(256))  # sign kept, |x| in [2^-7, 2^-6)


class Weights:
    def __init__(self, size: int) -> None:
        data = bytearray(os.urandom(size))
        data[3::4] = data[3::4].translate(_EXPONENT)
        self.data = memoryview(data).cast("f")


def _load(stream: io.RawIOBase, meta: flm_core.Metadata) -> bytearray:
    out = bytearray(meta.model.info["size"])
    view, done = memoryview(out), 0
    while done < len(out) and (n := stream.readinto(view[done:])):
        done += n
    return out


class Plugin:
    @flm_core.hookimpl
    def flm_serializers(self) -> list[flm_core.Serializer]:
        return [flm_core.Serializer(
            name="weights", distribution="flm-bench-weights",
            can_serialize=lambda obj: isinstance(obj, Weights), framework_version=lambda: "1",
            dump=lambda model: flm_core.Payload(write=lambda sink: sink.write(model.data),
                                                info={"size": model.data.nbytes}),
            load=_load)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Meter:
    """A loopback TCP proxy counting the bytes the server sends back."""

    def __init__(self, port: int) -> None:
        self.port, self.received = port, 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self._listener.accept()
            upstream = socket.create_connection(("127.0.0.1", self.port))
            for src, dst, count in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pipe, args=(src, dst, count), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, count: bool) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
                self.received += len(data) if count else 0
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files; a ``Range: bytes=a-b`` request is answered from those bytes alone, after
    ``latency`` seconds and at most ``rate`` bytes/s per connection when they are set (a
    store across a network: S3 gives one connection some 80 MB/s)."""

    rate = latency = 0.0

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            super().do_GET()
            return
        size = path.stat().st_size
        start, end = (int(match[1]), min(int(match[2] or size - 1), size - 1)) if match else (
            0, size - 1)
        with open(path, "rb") as file:
            file.seek(start)
            body = file.read(end - start + 1)
        self.send_response(206 if match else 200)
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        time.sleep(self.latency)
        start_time, view = time.perf_counter(), memoryview(body)
        for at in range(0, len(view), 256 * 1024):
            self.wfile.write(view[at : at + 256 * 1024])
            if self.rate:
                time.sleep(max(0.0, start_time + (at + 256 * 1024) / self.rate
                               - time.perf_counter()))


def _serve_http(directory: str, port: int, rate: float, latency: float) -> None:
    RangeHandler.rate, RangeHandler.latency = rate, latency
    handler = functools.partial(RangeHandler, directory=directory)
    http.server.ThreadingHTTPServer(("127.0.0.1", port), handler).serve_forever()


def _start(command: list[str], probe: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            urllib.request.urlopen(probe, timeout=1)
            return proc
        except urllib.error.HTTPError:
            return proc
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{command} did not start")


def _server() -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    return _start(command, f"http://127.0.0.1:{port}/moto-api/"), port


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _load_model(target: str, **kwargs: Any) -> None:
    with flm_core.load(target, **kwargs) as artifact:
        assert len(artifact.model) > 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=400)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--serve-http", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_http:
        directory, port, rate, latency = args.serve_http
        _serve_http(directory, int(port), float(rate), float(latency))
        return

    import boto3
    import fsspec

    args.load = os.getloadavg()  # a shared machine: say how shared
    get_plugin_manager().register(Plugin())
    server, port = _server()
    local = Path(tempfile.mkdtemp()) / "model.flm"
    http_port, slow_port = _free_port(), _free_port()
    http_server = _start([sys.executable, "-m", "benchmarks.remote", "--serve-http",
                          str(local.parent), str(http_port), "0", "0"],
                         f"http://127.0.0.1:{http_port}/")
    slow_server = _start([sys.executable, "-m", "benchmarks.remote", "--serve-http",
                          str(local.parent), str(slow_port), str(SLOW_RATE), str(SLOW_LATENCY)],
                         f"http://127.0.0.1:{slow_port}/")
    try:
        endpoint = f"http://127.0.0.1:{port}"
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                     aws_access_key_id="bench", aws_secret_access_key="bench",
                     ).create_bucket(Bucket="bench")
        options = {"key": "bench", "secret": "bench", "endpoint_url": endpoint,
                   "client_kwargs": {"region_name": "us-east-1"}}
        fs = fsspec.filesystem("s3", **options)
        url = "s3://bench/model.flm"
        http_url = f"http://127.0.0.1:{http_port}/model.flm"
        slow_url = f"http://127.0.0.1:{slow_port}/model.flm"
        model = Weights(args.size_mb * MB)
        times: dict[str, list[float]] = {}

        def run(name: str, fn: Callable[[], Any]) -> None:
            times.setdefault(name, []).append(_timed(fn))

        for _ in range(args.runs):
            run("dump, local disk", lambda: flm_core.dump(model, local))
            run("dump, S3", lambda: flm_core.dump(model, url, storage_options=options))
        size = local.stat().st_size
        for _ in range(args.runs):  # interleaved: drifts in machine load hit every method alike
            run("load, local disk", lambda: _load_model(str(local)))
            run("s3fs cat of the object (floor)", lambda: fs.cat(url))
            run("load, S3", lambda: _load_model(url, storage_options=options))
            run("HTTP cat of the file (floor)", lambda: fsspec.filesystem("http").cat(http_url))
            run("load, HTTP", lambda: _load_model(http_url))
            run(SLOW + ": cat (one connection)", lambda: fsspec.filesystem("http").cat(slow_url))
            run(SLOW + ": load", lambda: _load_model(slow_url))
            ahead = ranges.AHEAD
            ranges.AHEAD = 1
            try:
                run("load, S3, one request in flight", lambda: _load_model(
                    url, storage_options=options))
                run("load, HTTP, one request in flight", lambda: _load_model(http_url))
                run(SLOW + ": load, one request in flight", lambda: _load_model(slow_url))
            finally:
                ranges.AHEAD = ahead
        meter = Meter(port)
        metered = {**options, "endpoint_url": meter.endpoint}
        meta_bytes = []
        for _ in range(args.runs):  # timed direct; the proxy's own hops would count
            run("read_meta, S3", lambda: flm_core.read_meta(url, storage_options=options))
            meter.received = 0
            flm_core.read_meta(url, storage_options=metered)
            meta_bytes.append(meter.received)
    finally:
        for proc in (server, http_server, slow_server):
            proc.terminate()
            proc.wait()
    report(times, size, statistics.median(meta_bytes), args)


def report(times: dict[str, list[float]], size: int, meta_bytes: float,
           args: argparse.Namespace) -> None:
    med = {name: statistics.median(values) for name, values in times.items()}
    local, remote, floor = med["load, local disk"], med["load, S3"], med[
        "s3fs cat of the object (floor)"]
    web, web_floor = med["load, HTTP"], med["HTTP cat of the file (floor)"]
    lines = [
        f"Model: {args.size_mb} MB of float32 weights, zstd: {size / MB:.1f} MB object. "
        f"Medians of {args.runs} runs, moto's S3 server on loopback in its own process; "
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}; load average "
        f"{args.load[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end.",
        "",
        "| operation | median | runs |",
        "|---|---|---|",
        *[f"| {name} | {m:.2f} s | {', '.join(f'{t:.2f}' for t in times[name])} |"
          for name, m in med.items() if not name.startswith("read_meta")],
        f"| read_meta, S3 | {med['read_meta, S3'] * 1000:.1f} ms, {meta_bytes / 1024:.1f} KiB "
        "received (HTTP headers included) | |",
        "",
        "| target | verdict | figures |",
        "|---|---|---|",
        f"| remote load <= 1.3 x (local load + raw transfer) | "
        f"{'met' if remote <= 1.3 * (local + floor) else '**NOT met**'} | "
        f"{remote:.2f} s vs 1.3 x ({local:.2f} s + {floor:.2f} s) = "
        f"{1.3 * (local + floor):.2f} s; {remote / (local + floor):.2f}x the sum |",
        f"| the same over HTTP (a server answering ranges in O(range)) | "
        f"{'met' if web <= 1.3 * (local + web_floor) else '**NOT met**'} | "
        f"{web:.2f} s vs 1.3 x ({local:.2f} s + {web_floor:.2f} s) = "
        f"{1.3 * (local + web_floor):.2f} s; {web / (local + web_floor):.2f}x the sum |",
        f"| read_meta < 64 KB transferred | {'met' if meta_bytes < 64 * 1024 else '**NOT met**'} "
        f"| {meta_bytes / 1024:.1f} KiB for a {size / MB:.0f} MB object |",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text("# Remote benchmark\n\nGenerated by `python -m benchmarks.remote"
                            f" --size-mb {args.size_mb} --runs {args.runs}`.\n\n{text}\n")


if __name__ == "__main__":
    main()
