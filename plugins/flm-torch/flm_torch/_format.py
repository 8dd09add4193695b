"""The payload layout, and the tensor I/O that streams weights without extra copies.

Layout (little-endian), all inside the core's model section::

    HEADER   magic b"FLMTORCH", layout version u16, manifest size u32, program size u64
    manifest JSON: {"tensors": [{"name", "role", "dtype", "shape", "requires_grad"}, ...]}
    program  JSON of torch._export.serde's schema (graph, signature), no weights
    tensors  each tensor's raw bytes, C order, in manifest order

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


def raw_array(tensor: torch.Tensor) -> np.ndarray:
    """The tensor's bytes as a flat numpy array whose itemsize is the element size.

    Contiguous CPU tensors are not copied: the array shares their storage."""
    t = tensor.detach()
    if t.layout != torch.strided or t.is_quantized:
        raise FLMError(f"flm-torch cannot store a {t.layout} tensor (quantized: {t.is_quantized})")
    if t.device.type != "cpu":
        t = t.cpu()
    t = t.resolve_conj().resolve_neg().contiguous().reshape(-1)
    size = t.element_size()
    if size not in _VIEWS:  # complex128: 16 bytes, stored unshuffled
        return t.view(torch.uint8).numpy()
    return t.view(_VIEWS[size]).numpy()


def write_header(sink: io.RawIOBase, manifest: dict[str, Any], program: bytes) -> None:
    manifest_bytes = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
    sink.write(HEADER.pack(MAGIC, VERSION, len(manifest_bytes), len(program)))
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
    if version != VERSION:
        raise FormatError(f"flm-torch payload layout {version} is not supported (only {VERSION});"
                          " upgrade flm-torch")
    if manifest_size > MAX_MANIFEST or program_size > MAX_PROGRAM:
        raise FormatError("the torch payload declares an implausibly large header")
    try:
        manifest = json.loads(read_exactly(stream, manifest_size, "manifest"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"the torch manifest is not JSON: {exc}") from exc
    program = read_exactly(stream, program_size, "program")
    return _check_manifest(manifest), program


def _check_manifest(manifest: Any) -> list[dict[str, Any]]:
    tensors = manifest.get("tensors") if isinstance(manifest, dict) else None
    if not isinstance(tensors, list):
        raise FormatError("the torch manifest lacks its tensor list")
    names = set()
    for entry in tensors:
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
        names.add(entry["name"])
        itemsize = DTYPES[entry["dtype"]].itemsize
        if math.prod(entry["shape"]) * itemsize > MAX_TENSOR:
            raise FormatError(f"tensor {entry['name']!r} declares an implausible size")
    return tensors


def read_tensor(stream: io.BufferedIOBase, entry: dict[str, Any]) -> torch.Tensor:
    """Allocate the tensor once and let the stream decode straight into its storage."""
    tensor = torch.empty(entry["shape"], dtype=DTYPES[entry["dtype"]])
    if tensor.numel() == 0:
        return tensor
    view = memoryview(tensor.reshape(-1).view(torch.uint8).numpy()).cast("B")
    filled = 0
    while filled < len(view):
        got = stream.readinto(view[filled:])
        if not got:
            raise FormatError(f"the torch payload ends inside tensor {entry['name']!r}")
        filled += got
    return tensor
