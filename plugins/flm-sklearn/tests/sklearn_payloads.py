"""Helpers to hand-build sklearn payloads: a real model's manifest and data region, edited.

The payload is framed exactly as the plugin writes it, so a test reaches the parser with
every checksum right: through ``payload.load`` directly, or wrapped into a whole ``.flm``
by ``wrap`` (the core's writer computes the checksums of whatever bytes it is given).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flm_sklearn import payload

import flm_core


class Sink:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.data += view
        return view.nbytes


def raw(model: Any, **options: Any) -> bytes:
    sink = Sink()
    payload.dump(model, **options).write(sink)  # type: ignore[arg-type]
    return bytes(sink.data)


def split(model: Any) -> tuple[dict[str, Any], bytearray]:
    """A model's manifest (as JSON data) and its data region."""
    data = raw(model)
    _, _, _, size, region = payload.HEADER.unpack_from(data)
    start = payload.HEADER.size
    manifest = json.loads(data[start:start + size])
    return manifest, bytearray(data[start + size:start + size + region])


def frame(manifest: Any, region: bytes = b"", version: int = payload.DATA_VERSION) -> bytes:
    text = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
    return payload.HEADER.pack(payload.MAGIC, version, 0, len(text), len(region)) + text + region


def document(root: Any) -> dict[str, Any]:
    return {"format": payload.FORMAT, "root": root}


def load(data: bytes, **options: Any) -> Any:
    return payload.load(io.BytesIO(data), None, **options)  # type: ignore[arg-type]


def nodes(tree: Any) -> Iterator[dict[str, Any]]:
    """Every typed node of a manifest, depth first."""
    if isinstance(tree, dict):
        if "$" in tree:
            yield tree
        for value in tree.values():
            yield from nodes(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from nodes(value)


def find(tree: Any, test: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    return next(node for node in nodes(tree) if test(node))


def view(region: bytearray, node: dict[str, Any], dtype: Any) -> np.ndarray:
    """A writable numpy view of one array node's bytes in ``region``."""
    return np.frombuffer(region, dtype=dtype, count=node["nbytes"] // np.dtype(dtype).itemsize,
                         offset=node["offset"])


def wrap(data: bytes, path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A whole .flm file whose model section is ``data``, every checksum correct."""
    from sklearn.linear_model import LogisticRegression

    monkeypatch.setattr(payload, "dump", lambda model, **_: flm_core.Payload(
        write=lambda sink: sink.write(data)))
    flm_core.dump(LogisticRegression(), path)
    monkeypatch.undo()
    return path
