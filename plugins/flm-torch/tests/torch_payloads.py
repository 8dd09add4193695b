"""Build hostile flm-torch files the way an attacker would: a genuine payload, edited, inside a
real .flm whose every checksum is right (written by the core's own ``dump``), so only
flm-torch's checks stand between the edit and torch.

Shared by the red-team tests, the fuzzer (run as a script in a subprocess) and the corpus.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import struct
from collections.abc import Iterator
from typing import Any

import torch
from flm_torch import _dump, _format

import flm_core
from flm_core import Payload
from flm_core.fuzzing import replace_at as replace_at  # the tests' JSON edits


class Model(torch.nn.Module):
    """Parameters, buffers (BatchNorm), a dynamic batch: names, FQNs and shape symbols."""

    def __init__(self) -> None:
        super().__init__()
        self.l1 = torch.nn.Linear(2, 4)
        self.seq = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.gelu(self.seq(torch.tanh(self.l1(x))), approximate="tanh")


class ControlFlow(torch.nn.Module):
    """torch.cond: subgraphs nested in node arguments, a second shape of program."""

    def __init__(self) -> None:
        super().__init__()
        self.l1 = torch.nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cond(x.sum() > 0, lambda x: self.l1(x).relu(), lambda x: self.l1(x).tanh(),
                          (x,))


class Genuine:
    """A genuine payload split into its manifest entries, program JSON and tensor bytes."""

    def __init__(self, model: torch.nn.Module | None = None, **dump_options: Any) -> None:
        torch.manual_seed(0)
        self.model = (model or Model()).eval()
        sink = io.BytesIO()
        _dump.dump(self.model, **dump_options).write(sink)
        self.payload = sink.getvalue()
        stream = io.BytesIO(self.payload)
        head = stream.read(_format.HEADER.size)
        self.version = _format.HEADER.unpack(head)[1]
        stream.seek(0)
        entries, program = _format.read_header(stream)
        self.entries: list[dict[str, Any]] = entries
        self.program: dict[str, Any] = json.loads(program)
        self.weights = stream.read()

    def edited(self) -> dict[str, Any]:
        return copy.deepcopy(self.program)

    def build(self, program: Any = None, entries: list[dict[str, Any]] | None = None,
              weights: bytes | None = None) -> bytes:
        """Payload bytes with the parts given replaced (program: a JSON value or raw bytes)."""
        program = self.program if program is None else program
        body = program if isinstance(program, bytes) else json.dumps(program).encode()
        manifest = json.dumps({"tensors": self.entries if entries is None else entries},
                              separators=(",", ":"), sort_keys=True).encode()
        head = _format.HEADER.pack(_format.MAGIC, self.version, len(manifest), len(body))
        return head + manifest + body + (self.weights if weights is None else weights)


def raw_payload(manifest: bytes, program: bytes, rest: bytes = b"", version: int = 1) -> bytes:
    return _format.HEADER.pack(_format.MAGIC, version, len(manifest), len(program)) + (
        manifest + program + rest)


def short_header() -> bytes:
    return struct.pack("<8sH", _format.MAGIC, 1)


@contextlib.contextmanager
def _payload_replaced(data: bytes) -> Iterator[None]:
    original = _dump.dump
    _dump.dump = lambda model, **_: Payload(write=lambda sink: sink.write(data))
    try:
        yield
    finally:
        _dump.dump = original


def flm_file(payload: bytes, compression: str = "zstd") -> bytes:
    """A complete .flm around ``payload``, written by the core: every CRC and digest right."""
    out = io.BytesIO()
    with _payload_replaced(payload):
        flm_core.dump(torch.nn.Linear(1, 1), out, compression=compression)
    return out.getvalue()


def load(data: bytes, **options: Any) -> Any:
    """``flm_core.load`` of .flm bytes; the model, or the exception it raised."""
    with flm_core.load(io.BytesIO(data), **options) as artifact:
        return artifact.model


def node_list(program: dict[str, Any]) -> list[dict[str, Any]]:
    return program["graph_module"]["graph"]["nodes"]  # type: ignore[no-any-return]


def signature(program: dict[str, Any]) -> dict[str, Any]:
    return program["graph_module"]["module_call_graph"][0]["signature"]  # type: ignore[no-any-return]


def rename_key_at(value: Any, path: tuple[Any, ...], new_key: str) -> Any:
    """A deep copy with the dict key at ``path`` renamed (the last element is the key)."""
    copied = copy.deepcopy(value)
    parent = copied
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and path[-1] in parent:
        parent[new_key] = parent.pop(path[-1])
    return copied


def deep_json(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels
