"""Rebuild an ExportedProgram from a payload; imported lazily by ``load``.

Nothing here unpickles: weights are raw bytes read into fresh tensors, and the program is
JSON checked by :mod:`flm_torch._safety` before torch's deserializer sees it.
"""

from __future__ import annotations

import io
import json
import threading
from typing import Any

import torch
from torch._export.serde import serialize as serde

from flm_core import FLMError, FormatError
from flm_torch._format import read_header, read_tensor
from flm_torch._safety import check_program

# torch's deserializer keeps its state in a module global and refuses re-entry.
_LOCK = threading.Lock()


def load(stream: io.BufferedIOBase, meta: Any) -> torch.nn.Module:
    entries, program_bytes = read_header(stream)
    try:
        program = json.loads(program_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"the torch program is not JSON: {exc}") from exc
    check_program(program)
    state_dict: dict[str, torch.Tensor] = {}
    constants: dict[str, torch.Tensor] = {}
    for entry in entries:
        tensor = read_tensor(stream, entry)
        if entry["role"] == "parameter":
            state_dict[entry["name"]] = torch.nn.Parameter(
                tensor, requires_grad=entry["requires_grad"])
        elif entry["role"] == "buffer":
            state_dict[entry["name"]] = tensor
        else:
            constants[entry["name"]] = tensor
    if stream.read(1):
        raise FormatError("the torch payload has bytes after its last tensor")
    return _rebuild(program, state_dict, constants).module()


def _rebuild(program: dict[str, Any], state_dict: dict[str, torch.Tensor],
             constants: dict[str, torch.Tensor]) -> torch.export.ExportedProgram:
    try:
        serialized = serde._dict_to_dataclass(serde.ExportedProgram, program)
        with _LOCK:
            # Dicts, not bytes: torch then never reaches its pickle (torch.load) fallback.
            return serde.ExportedProgramDeserializer().deserialize(
                serialized, state_dict, constants, None)
    except FLMError:
        raise
    except Exception as exc:
        raise FormatError(
            f"torch {torch.__version__} cannot rebuild the exported program: "
            f"{exc.__class__.__name__}: {exc}") from exc
