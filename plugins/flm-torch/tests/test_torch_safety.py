"""Loading never runs code from the file: hostile payloads are refused before torch sees them.

Each hostile file is a valid, checksummed FLM file (written through the real core with a
patched payload), so only flm-torch's own checks stand between it and execution. Each
attack tries to ``touch`` a marker file; the test fails if the marker ever appears.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import struct
from pathlib import Path
from typing import Any

import pytest
import torch
from flm_torch import _dump, _format, _load, _safety

import flm_core
from flm_core import Payload


class Model(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l1 = torch.nn.Linear(2, 10)
        self.l2 = torch.nn.Linear(10, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.l2(torch.tanh(self.l1(x))))


class Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return os.system, (f"touch {self.marker}",)


@pytest.fixture(scope="module")
def payload() -> tuple[list[dict[str, Any]], dict[str, Any], bytes]:
    """A genuine payload split into (manifest tensors, program JSON, tensor bytes)."""
    sink = io.BytesIO()
    _dump.dump(Model()).write(sink)
    stream = io.BytesIO(sink.getvalue())
    entries, program = _format.read_header(stream)
    return entries, json.loads(program), stream.read()


def assemble(entries: list[dict[str, Any]], program: bytes, weights: bytes) -> bytes:
    sink = io.BytesIO()
    _format.write_header(sink, {"tensors": entries}, program)
    return sink.getvalue() + weights


def hostile_file(tmp_path: Path, payload: Any, program: Any,
                 monkeypatch: pytest.MonkeyPatch) -> Path:
    """A valid FLM file whose payload carries ``program`` (a JSON object or raw bytes)."""
    entries, _, weights = payload
    body = program if isinstance(program, bytes) else json.dumps(program).encode()
    return write_flm(tmp_path / "evil.flm", assemble(entries, body, weights), monkeypatch)


def write_flm(path: Path, data: bytes, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(_dump, "dump", lambda model, **_: Payload(write=lambda s: s.write(data)))
    flm_core.dump(Model(), path)
    monkeypatch.undo()
    return path


def load_and_call(path: Path) -> None:
    loaded = flm_core.load(path).model
    loaded(torch.ones(3, 2))


def nodes(program: dict[str, Any]) -> list[dict[str, Any]]:
    return program["graph_module"]["graph"]["nodes"]


def test_genuine_payload_loads(
    payload: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = hostile_file(tmp_path, payload, payload[1], monkeypatch)
    assert flm_core.load(path).model(torch.ones(3, 2)).shape == (3, 1)


def test_pickle_in_place_of_the_program_is_refused(
    payload: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "pwned"
    path = hostile_file(tmp_path, payload, pickle.dumps(Evil(marker)), monkeypatch)
    with pytest.raises(flm_core.FormatError, match="not JSON"):
        load_and_call(path)
    assert not marker.exists()


def test_torch_saved_object_in_place_of_the_program_is_refused(
    payload: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "pwned"
    blob = io.BytesIO()
    torch.save({"state": Evil(marker)}, blob)
    path = hostile_file(tmp_path, payload, blob.getvalue(), monkeypatch)
    with pytest.raises(flm_core.FormatError):
        load_and_call(path)
    assert not marker.exists()


def with_hostile_guard(program: dict[str, Any], marker: Path) -> dict[str, Any]:
    # torch execs guards_code in ExportedProgram.module() when the program keeps its
    # example inputs (flm-torch drops them, so this is defence in depth)
    return dict(program, guards_code=[f"__import__('os').system('touch {marker}') == 0"])


def with_hostile_expression(program: dict[str, Any], marker: Path) -> dict[str, Any]:
    # torch hands every expr_str to sympy.sympify, which evals it
    hostile = json.loads(json.dumps(program))
    stack: list[Any] = [hostile]
    while stack:
        item = stack.pop()
        if isinstance(item, dict) and "expr_str" in item:
            item["expr_str"] = f"__import__('os').system('touch {marker}') + {item['expr_str']}"
            return hostile
        stack.extend(item.values() if isinstance(item, dict) else
                     item if isinstance(item, list) else [])
    raise AssertionError("the genuine program has no shape expression to attack")


ATTACKS = {"guard": with_hostile_guard, "shape expression": with_hostile_expression}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_program_strings_torch_would_execute_are_refused(
    payload: Any, attack: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    program = payload[1]
    marker = tmp_path / "pwned"
    hostile = ATTACKS[attack](program, marker)
    path = hostile_file(tmp_path, payload, hostile, monkeypatch)
    with pytest.raises(flm_core.UnsafeModelError, match=attack):
        load_and_call(path)
    assert not marker.exists()


def test_the_expression_attack_is_real_when_the_check_is_skipped(
    payload: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Proves the test above guards something: torch alone would run the command."""
    program = payload[1]
    marker = tmp_path / "pwned"
    hostile = with_hostile_expression(program, marker)
    path = hostile_file(tmp_path, payload, hostile, monkeypatch)
    monkeypatch.setattr(_load, "check_program", lambda program: None)
    with contextlib.suppress(Exception):
        load_and_call(path)
    assert marker.exists()


@pytest.mark.parametrize("target", ["torch.os.system", "builtins.exec", "posix.system",
                                    "torch.ops.aten.__class__.__init__", "#custom:op"])
def test_graph_calling_anything_but_operators_is_refused(
    payload: Any, target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    program = payload[1]
    hostile = json.loads(json.dumps(program))
    nodes(hostile)[0]["target"] = target
    path = hostile_file(tmp_path, payload, hostile, monkeypatch)
    with pytest.raises(flm_core.UnsafeModelError, match="disallowed target"):
        load_and_call(path)


def test_truncated_weights_and_trailing_bytes_are_format_errors(
    payload: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries, program, weights = payload
    body = json.dumps(program).encode()
    for data in (assemble(entries, body, weights[:-4]), assemble(entries, body, weights + b"x")):
        path = write_flm(tmp_path / "bad.flm", data, monkeypatch)
        with pytest.raises(flm_core.FormatError):
            flm_core.load(path)


def test_forged_header_is_a_format_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for data in (b"PICKLE!!" + bytes(14), _format.HEADER.pack(b"FLMTORCH", 99, 0, 0),
                 _format.HEADER.pack(b"FLMTORCH", 1, 2**31, 0),
                 _format.HEADER.pack(b"FLMTORCH", 1, 2, 0) + b"[]",
                 struct.pack("<8sH", b"FLMTORCH", 1)):
        path = write_flm(tmp_path / "bad.flm", data, monkeypatch)
        with pytest.raises(flm_core.FormatError):
            flm_core.load(path)


@pytest.mark.parametrize("expr", ["s77", "Symbol('s77', positive=True, integer=True)",
                                  "Max(2, s0) + FloorDiv(s1, 4)*u0", "Eq(Mod(s3, 2), 0)"])
def test_plain_shape_expressions_pass(expr: str) -> None:
    _safety.check_sympy_expression(expr)


@pytest.mark.parametrize("expr", ["open('x')", "s0.__class__", "Symbol('__import__')",
                                  "Symbol('s0', cls=exec)", "(lambda: 1)()", "[s0][0]",
                                  "preview(s0)", "exec"])
def test_shape_expressions_with_calls_or_attributes_fail(expr: str) -> None:
    with pytest.raises(flm_core.UnsafeModelError):
        _safety.check_sympy_expression(expr)


@pytest.mark.parametrize("guard", ["L['x'].size()[0] == L['y'].size()[0]",
                                   "2 <= L['x'].size()[0] and L['x'].stride()[1] == 1"])
def test_size_guards_pass(guard: str) -> None:
    _safety.check_guard(guard)


@pytest.mark.parametrize("guard", ["L['x'].__class__", "L['x\"); import os; (\"'].size()[0]",
                                   "getattr(L, 'x')", "L['x'].size()[0] == open('f')",
                                   "math.__loader__", "torch.load('f')"])
def test_guards_doing_anything_else_fail(guard: str) -> None:
    with pytest.raises(flm_core.UnsafeModelError):
        _safety.check_guard(guard)
