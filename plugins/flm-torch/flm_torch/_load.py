"""Rebuild an ExportedProgram from a payload; imported lazily by ``load``.

Nothing here unpickles: weights are raw bytes read into fresh tensors, and the program is
JSON checked by :mod:`flm_torch._safety` before torch's deserializer sees it.
"""

from __future__ import annotations

import importlib
import io
import json
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch

from flm_core import FormatError
from flm_torch import _devices
from flm_torch._bounds import check_tensors, flm_errors
from flm_torch._format import DTYPES, read_header
from flm_torch._safety import check_program


@flm_errors  # .module() included: it generates and compiles code
def load(stream: io.BufferedIOBase, meta: Any, device: Any = None) -> torch.nn.Module:
    target = _devices.resolve(device)
    compat = _import_on_a_thread("flm_torch._compat")  # overlaps the weights' decoding
    entries, program_bytes = read_header(stream)
    check_tensors(entries, DTYPES, on_cpu=target.type == "cpu")  # before any allocation
    try:
        program = json.loads(program_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"the torch program is not JSON: {exc}") from exc
    check_program(program)
    state_dict, constants = _read_tensors(stream, entries, _devices.Reader(target))
    if stream.read(1):
        raise FormatError("the torch payload has bytes after its last tensor")
    private = compat()  # flm_torch._compat: torch's private serializer
    # The program names the devices it was exported on; it runs where its weights are.
    private.retarget_devices(program, target)
    recorded = getattr(getattr(meta, "framework", None), "version", None)
    module: torch.nn.Module = private.rebuild(program, state_dict, constants, recorded).module()
    return module


def _import_on_a_thread(name: str) -> Callable[[], ModuleType]:
    """Start importing ``name`` and return a function that waits for the module.

    torch's export deserializer (sympy, FX, fake tensors) takes about a second to import:
    on a thread, that overlaps the weights' decompression, which runs on the core's pool
    without the GIL. Its own import errors are raised where the module is waited for."""
    if name in sys.modules:
        module = sys.modules[name]
        return lambda: module
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["module"] = importlib.import_module(name)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name=f"import {name}", daemon=True)
    thread.start()

    def wait() -> ModuleType:
        thread.join()
        if "error" in box:
            raise box["error"]
        module: ModuleType = box["module"]
        return module

    return wait


def _read_tensors(stream: io.BufferedIOBase, entries: list[dict[str, Any]],
                  reader: _devices.Reader) -> tuple[dict[str, Any], dict[str, Any]]:
    state_dict: dict[str, Any] = {}
    constants: dict[str, Any] = {}
    read: dict[str, Any] = {}  # by name, for ties
    for entry in entries:
        if "tie" in entry:  # the same object again, so the rebuilt module shares it too
            value = read[entry["tie"]]
        else:
            tensor = reader.read(stream, entry, DTYPES[entry["dtype"]])
            value = (torch.nn.Parameter(tensor, requires_grad=entry["requires_grad"])
                     if entry["role"] == "parameter" else tensor)
        read[entry["name"]] = value
        if entry["role"] == "constant":
            constants[entry["name"]] = value
        else:
            state_dict[entry["name"]] = value
    reader.finish()
    return state_dict, constants
