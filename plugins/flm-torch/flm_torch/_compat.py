"""Every use of torch's private export serializer (``torch._export.serde``) lives here.

torch changes these APIs between releases, so each difference is detected by feature (a
keyword a function accepts, an attribute a module has), never by version number, and
:func:`features` reports what was found (the tests print it on each torch they run on).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import threading
import types
import typing
from typing import Any

import torch
from torch._export.serde import schema, serialize

from flm_core import FLMError, FormatError
from flm_torch.errors import TorchVersionError

# torch's deserializer keeps its state in a module global and refuses re-entry; the
# fallback serializer below swaps a module global for the length of a call.
_LOCK = threading.Lock()
serde: Any = serialize  # private and untyped: every use is in this module
_ARTIFACT_KEYWORDS = ("serialize_state_dict", "serialize_constants", "serialize_example_inputs")


@functools.cache
def skips_artifacts() -> bool:
    """Whether ``serde.serialize`` can leave the weights out (newer torch; 2.11 cannot)."""
    parameters = inspect.signature(serde.serialize).parameters
    return all(name in parameters for name in _ARTIFACT_KEYWORDS)


def schema_version() -> tuple[int, int]:
    """The export schema (major, minor) this torch writes and reads."""
    major, minor = schema.SCHEMA_VERSION
    return int(major), int(minor)


@functools.cache
def ignores_new_fields() -> bool:
    """Whether the deserializer skips fields its schema lacks, as newer torch does (a newer
    minor version of the schema only adds fields); torch 2.6 raises a TypeError."""
    try:
        serde._dict_to_dataclass(schema.SchemaVersion, {"major": 1, "minor": 0, "flm_new": 0})
    except TypeError:
        return False
    return True


def features() -> dict[str, Any]:
    return {"torch": str(torch.__version__), "schema": schema_version(),
            "skips_artifacts": skips_artifacts(), "ignores_new_fields": ignores_new_fields()}


def program_json(program: torch.export.ExportedProgram) -> bytes:
    """The program's graph and signature as JSON bytes, without weights or example inputs.

    The weights must stay out: serde would pickle them into one in-memory blob."""
    if skips_artifacts():
        artifact = serde.serialize(program, serialize_state_dict=False,
                                   serialize_constants=False, serialize_example_inputs=False)
        return bytes(artifact.exported_program)
    # Older torch always pickles the three artifacts through one module-level helper: make
    # it return nothing for this thread while this call runs. Other threads still get the
    # real helper (a torch.export.save elsewhere keeps its weights); the lock keeps two
    # dumps from stacking swaps.
    with _LOCK:
        original = serde.serialize_torch_artifact
        caller = threading.get_ident()

        def nothing_here(*args: Any, **kwargs: Any) -> Any:
            return b"" if threading.get_ident() == caller else original(*args, **kwargs)

        serde.serialize_torch_artifact = nothing_here
        try:
            artifact = serde.serialize(program)
        finally:
            serde.serialize_torch_artifact = original
    return bytes(artifact.exported_program)


def file_torch(program: dict[str, Any], recorded: str | None) -> str:
    """The torch release that wrote ``program``: its own field, else the file's metadata."""
    written = program.get("torch_version")
    return str(written) if isinstance(written, str) else str(recorded or "an unknown torch")


def check_schema(program: dict[str, Any], recorded: str | None) -> None:
    """Refuse a program of another schema major version before torch tries to read it."""
    version = program.get("schema_version")
    major = version.get("major") if isinstance(version, dict) else None
    minor = version.get("minor") if isinstance(version, dict) else None
    if not isinstance(major, int) or not isinstance(minor, int):
        raise FormatError("the torch program has no schema version")
    ours = schema_version()
    if major != ours[0]:
        raise TorchVersionError(
            f"this file was written by torch {file_torch(program, recorded)} (export schema "
            f"{major}.{minor}); torch {torch.__version__} reads schema {ours[0]}.x only: "
            f"load it with a torch whose export schema is {major}.x, or dump it again "
            f"with torch {torch.__version__}")


def rebuild(program: dict[str, Any], state_dict: dict[str, torch.Tensor],
            constants: dict[str, torch.Tensor],
            recorded: str | None) -> torch.export.ExportedProgram:
    """Turn checked program JSON and its tensors into an ``ExportedProgram``."""
    check_schema(program, recorded)
    try:
        if not ignores_new_fields():  # do what newer torch does itself
            program = known_fields(schema.ExportedProgram, program)
        serialized = serde._dict_to_dataclass(schema.ExportedProgram, program)
        with _LOCK:
            # Dicts, not bytes: torch then never reaches its pickle (torch.load) fallback.
            rebuilt: torch.export.ExportedProgram = serde.ExportedProgramDeserializer(
            ).deserialize(serialized, state_dict, constants, None)
            return rebuilt
    except FLMError:
        raise
    except Exception as exc:
        written = file_torch(program, recorded)
        if written.split("+")[0] != str(torch.__version__).split("+")[0]:
            raise TorchVersionError(
                f"torch {torch.__version__} cannot rebuild the program that torch "
                f"{written} exported ({exc.__class__.__name__}: {exc}); load it with torch "
                f"{written}, or dump the model again with torch {torch.__version__}") from exc
        raise FormatError(
            f"torch {torch.__version__} cannot rebuild the exported program: "
            f"{exc.__class__.__name__}: {exc}") from exc


def known_fields(cls: Any, data: Any) -> Any:
    """``data`` without the dataclass fields this torch's schema lacks (a copy; recursive
    along the schema's types, so its depth is the schema's, not the file's). Anything that
    does not fit the schema is left for torch's deserializer to refuse."""
    if isinstance(cls, typing.ForwardRef):
        cls = cls.__forward_arg__
    if isinstance(cls, str):
        cls = getattr(schema, cls, cls)
    origin, args = typing.get_origin(cls), typing.get_args(cls)
    if origin is typing.Annotated:
        return known_fields(args[0], data)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return data if data is None or len(inner) != 1 else known_fields(inner[0], data)
    if dataclasses.is_dataclass(cls) and isinstance(data, dict):
        hints = typing.get_type_hints(cls, globalns=vars(schema))
        if isinstance(cls, type) and issubclass(cls, serde._Union):  # one key: the kind
            return {k: known_fields(hints[k], v) if k in hints else v for k, v in data.items()}
        names = {f.name for f in dataclasses.fields(cls)}
        return {k: known_fields(hints[k], v) for k, v in data.items() if k in names}
    if isinstance(data, list) and args:
        return [known_fields(args[0], item) for item in data]
    if isinstance(data, dict) and len(args) == 2:
        return {k: known_fields(args[1], v) for k, v in data.items()}
    return data


def retarget_devices(program: Any, device: torch.device) -> int:
    """Point every device the program names (tensor metadata, ``device=`` arguments) at
    ``device``, in place, and return how many changed.

    Plain data: this runs on the JSON before torch reads it, so a program exported on a GPU
    rebuilds and runs on a machine without one. The meta device is left alone."""
    target = {"type": device.type, "index": device.index}
    changed = 0
    stack = [program]
    while stack:  # iterative: a hostile file could nest deeply enough to exhaust the stack
        item = stack.pop()
        if isinstance(item, dict):
            for key in ("device", "as_device"):
                value = item.get(key)
                if (isinstance(value, dict) and set(value) <= {"type", "index"}
                        and value.get("type") not in (None, "meta") and value != target):
                    item[key] = dict(target)
                    changed += 1
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return changed
