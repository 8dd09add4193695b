"""Servers on loopback for the remote tests, started by the tests themselves.

- ``s3``: moto's standalone S3 server (a real HTTP server, reached through s3fs) with IAM
  authentication on, so wrong credentials are refused as by AWS.
- ``meter``: a TCP proxy in front of it that counts the bytes the server sends back.
- ``http_files``: a threaded HTTP server that honours Range requests and counts bytes sent.

The modules importing fsspec, s3fs and moto are only imported inside fixtures: without the
``remote`` extra, the test modules skip themselves with the reason.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import socket
import socketserver
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@attrs.define
class S3:
    """The loopback S3 server and a user allowed to use it."""

    endpoint: str
    key: str
    secret: str

    def options(self, endpoint: str | None = None, **overrides: Any) -> dict[str, Any]:
        """s3fs storage_options for this server; ``skip_instance_cache`` so that each test's
        options take effect (s3fs caches instances by options)."""
        return {"key": self.key, "secret": self.secret, "endpoint_url": endpoint or self.endpoint,
                "client_kwargs": {"region_name": REGION}, "skip_instance_cache": True,
                **overrides}

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=self.key, aws_secret_access_key=self.secret)

    def bucket(self) -> str:
        name = f"bucket-{uuid.uuid4().hex[:12]}"  # "bucket" in a key's URL is no hint
        self.client().create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session")
def s3() -> Iterator[S3]:
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # Authentication on after three unauthenticated calls: the ones creating the user.
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset-auth",
                                                  data=b"3", method="POST",
                                                  headers={"Content-Type": "text/plain"}),
                           timeout=10)
    iam = boto3.client("iam", endpoint_url=endpoint, region_name=REGION,
                       aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
    iam.create_user(UserName="flm")
    iam.put_user_policy(UserName="flm", PolicyName="s3", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }))
    access = iam.create_access_key(UserName="flm")["AccessKey"]
    try:
        yield S3(endpoint, access["AccessKeyId"], access["SecretAccessKey"])
    finally:
        server.stop()


@pytest.fixture
def bucket(s3: S3) -> str:
    return s3.bucket()


class Meter:
    """A loopback TCP proxy to ``target`` counting the bytes sent back to clients."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.received = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self) -> None:
        with self._lock:
            self.received = 0

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pipe, args=(client, upstream, False),
                             daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True),
                             daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, count: bool) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
                if count:
                    with self._lock:
                        self.received += len(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def meter(s3: S3) -> Iterator[Meter]:
    host, port = s3.endpoint.removeprefix("http://").split(":")
    proxy = Meter((host, int(port)))
    try:
        yield proxy
    finally:
        proxy.close()


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with single-range support (``Range: bytes=a-b``), counting bytes sent."""

    sent = 0
    lock = threading.Lock()

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if not path.is_file() or not match:
            super().do_GET()
            return
        size = path.stat().st_size
        start = int(match[1])
        end = min(int(match[2]) if match[2] else size - 1, size - 1)
        if start >= size:
            self.send_error(416)
            return
        with open(path, "rb") as file:
            file.seek(start)
            body = file.read(end - start + 1)
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.wfile.write(body)
        self._count(len(body))

    def copyfile(self, source: Any, outputfile: Any) -> None:
        while chunk := source.read(65536):
            outputfile.write(chunk)
            self._count(len(chunk))

    def _count(self, size: int) -> None:
        with RangeHandler.lock:
            RangeHandler.sent += size


@attrs.define
class HttpFiles:
    root: Path
    url: str

    @property
    def sent(self) -> int:
        return RangeHandler.sent

    def reset(self) -> None:
        RangeHandler.sent = 0


@pytest.fixture
def http_files(tmp_path: Path) -> Iterator[HttpFiles]:
    root = tmp_path / "www"
    root.mkdir()

    def handler(*args: Any) -> RangeHandler:
        return RangeHandler(*args, directory=os.fspath(root))

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield HttpFiles(root, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
