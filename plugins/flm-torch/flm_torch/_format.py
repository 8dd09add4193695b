"""The payload layout, and the tensor I/O that streams weights without extra copies.

Layout (little-endian), all inside the core's model section::

    HEADER   magic b"FLMTORCH", layout version u16, manifest size u32, program size u64
    manifest JSON: {"tensors": [{"name", "role", "dtype", "shape", "requires_grad"}, ...]}
    program  JSON of torch._export.serde's schema (graph, signature), no weights
    tensors  each tensor's raw bytes, C order, in manifest order

Layout 2 adds ``"tie": "<earlier name>"`` to an entry whose tensor is the same storage as an
earlier one (tied weights): it has no bytes of its own. A file without ties is written as
layout 1, so flm-torch releases that know only layout 1 still read it.

Imported lazily (only from dump/load), so importing torch at the top is fine here.
"""

from __future__ import annotations

import io
import json
import math
import struct
from typing import Any

import numpy as np
import torch

from flm_core import FLMError, FormatError

MAGIC = b"FLMTORCH"
VERSION = 1
VERSION_TIES = 2
VERSIONS = (VERSION, VERSION_TIES)
HEADER = struct.Struct("<8sHIQ")
MAX_MANIFEST = 256 * 1024 * 1024
MAX_PROGRAM = 1024 * 1024 * 1024
MAX_TENSOR = 1 << 40
ROLES = ("parameter", "buffer", "constant")
CHUNK = 1024 * 1024
# Names are looked up in this table, never with getattr on whatever the file says.
DTYPES: dict[str, torch.dtype] = {
    str(dtype).removeprefix("torch."): dtype
    for dtype in (
        torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.complex64,
        torch.complex128, torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8,
        torch.bool, torch.float8_e4m3fn, torch.float8_e5m2,
    )
}
# Same-width integer views keep the itemsize, so the core can byte-shuffle the buffer.
_VIEWS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def dtype_name(dtype: torch.dtype) -> str:
    name = str(dtype).removeprefix("torch.")
    if name not in DTYPES:
        raise FLMError(f"flm-torch cannot store tensors of dtype {dtype}")
    return name


def flat_view(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor's elements, flat and contiguous, viewed as a same-width integer type (or
    bytes for 16-byte complex, stored unshuffled), on the tensor's own device.

    A contiguous tensor is not copied: the view shares its storage."""
    t = tensor.detach()
    if t.layout != torch.strided or t.is_quantized:
        raise FLMError(f"flm-torch cannot store a {t.layout} tensor (quantized: {t.is_quantized})")
    t = t.resolve_conj().resolve_neg().contiguous().reshape(-1)
    return t.view(_VIEWS.get(t.element_size(), torch.uint8))


def raw_array(tensor: torch.Tensor) -> np.ndarray:
    """A CPU tensor's bytes as a flat numpy array whose itemsize is the element size."""
    array: np.ndarray = flat_view(tensor).numpy()
    return array


def write_header(sink: io.RawIOBase, manifest: dict[str, Any], program: bytes) -> None:
    manifest_bytes = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
    ties = any("tie" in entry for entry in manifest["tensors"])
    version = VERSION_TIES if ties else VERSION
    sink.write(HEADER.pack(MAGIC, version, len(manifest_bytes), len(program)))
    sink.write(manifest_bytes)
    sink.write(program)


def read_exactly(stream: io.BufferedIOBase, size: int, what: str) -> bytes:
    # Grows with the bytes actually there, so a forged size cannot allocate it upfront.
    parts, left = [], size
    while left:
        chunk = stream.read(min(left, CHUNK))
        if not chunk:
            raise FormatError(f"the torch payload ends inside its {what}")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def read_header(stream: io.BufferedIOBase) -> tuple[list[dict[str, Any]], bytes]:
    """Read and check the framing: return (manifest tensors, program JSON bytes)."""
    head = read_exactly(stream, HEADER.size, "header")
    magic, version, manifest_size, program_size = HEADER.unpack(head)
    if magic != MAGIC:
        raise FormatError("the model section is not a flm-torch payload (bad magic)")
    if version not in VERSIONS:
        raise FormatError(f"flm-torch payload layout {version} is not supported (only "
                          f"{', '.join(map(str, VERSIONS))}); upgrade flm-torch")
    if manifest_size > MAX_MANIFEST or program_size > MAX_PROGRAM:
        raise FormatError("the torch payload declares an implausibly large header")
    try:
        manifest = json.loads(read_exactly(stream, manifest_size, "manifest"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"the torch manifest is not JSON: {exc}") from exc
    program = read_exactly(stream, program_size, "program")
    return _check_manifest(manifest, version), program


def _check_manifest(manifest: Any, version: int = VERSION) -> list[dict[str, Any]]:
    tensors = manifest.get("tensors") if isinstance(manifest, dict) else None
    if not isinstance(tensors, list):
        raise FormatError("the torch manifest lacks its tensor list")
    names: dict[str, dict[str, Any]] = {}
    for entry in tensors:
        if isinstance(entry, dict) and "tie" in entry:
            _check_tie(entry, names, version)
        ok = (
            isinstance(entry, dict)
            and isinstance(entry.get("name"), str)
            and entry.get("role") in ROLES
            and entry.get("dtype") in DTYPES
            and isinstance(entry.get("requires_grad"), bool)
            and isinstance(entry.get("shape"), list)
            and all(type(n) is int and n >= 0 for n in entry["shape"])
        )
        if not ok or entry["name"] in names:
            raise FormatError(f"malformed tensor entry in the torch manifest: {entry!r:.200}")
        names[entry["name"]] = entry
        itemsize = DTYPES[entry["dtype"]].itemsize
        if math.prod(entry["shape"]) * itemsize > MAX_TENSOR:
            raise FormatError(f"tensor {entry['name']!r} declares an implausible size")
    return tensors


def _check_tie(entry: dict[str, Any], names: dict[str, dict[str, Any]], version: int) -> None:
    # A tie names an earlier entry of the same dtype and shape: it can never point forward,
    # at itself, or at another tie, so resolving ties needs no graph walk.
    target = names.get(entry["tie"]) if isinstance(entry["tie"], str) else None
    if (version < VERSION_TIES or target is None or "tie" in target
            or target["dtype"] != entry.get("dtype") or target["shape"] != entry.get("shape")):
        raise FormatError(f"malformed tied tensor in the torch manifest: {entry!r:.200}")
