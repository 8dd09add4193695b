"""Positive schemas for the metadata and trailer JSON: exact keys, exact types, or a
:class:`FormatError` naming the field. Nothing a file says is used before it passes here."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flm_core.errors import FormatError

SHA256 = re.compile(r"[0-9a-f]{64}")
SECTION_KINDS = ("model", "artifact")

# field -> expected JSON type; "?" marks an optional field
_Spec = Mapping[str, Any]
FRAMEWORK: _Spec = {"lib": str, "version": str}
PLUGIN: _Spec = {"distribution": str, "version": str}
MODEL: _Spec = {"obj": str, "info": dict, "params": dict, "metrics": dict, "signature?": dict}
FORMAT: _Spec = {"version": int, "codec": str, "artifacts?": list, "sections?": list}
METADATA: _Spec = {"id": str, "timestamp": str, "framework": FRAMEWORK, "model": MODEL,
                   "plugin": PLUGIN, "format": FORMAT, "extra?": dict}
SECTION: _Spec = {"kind": str, "name": str, "codec": str, "offset": int, "raw_size": int,
                  "stored_size": int, "blocks": int, "sha256": str}
TRAILER: _Spec = {"sections": list}


def check(data: Any, spec: _Spec, where: str) -> None:
    """``data`` is an object with exactly ``spec``'s keys, each of its type."""
    if not isinstance(data, dict):
        raise FormatError(f"{where} must be a JSON object, not {_kind(data)}")
    fields = {name.rstrip("?"): kind for name, kind in spec.items()}
    required = {name for name in spec if not name.endswith("?")}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise FormatError(f"{where} has unknown field(s) {', '.join(map(repr, unknown))}")
    missing = sorted(required - set(data))
    if missing:
        raise FormatError(f"{where} lacks field(s) {', '.join(map(repr, missing))}")
    for name, value in data.items():
        kind = fields[name]
        if isinstance(kind, Mapping):
            check(value, kind, f"{where}.{name}")
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise FormatError(f"{where}.{name} must be {kind.__name__}, not {_kind(value)}")


def check_metadata(data: Any) -> None:
    check(data, METADATA, "metadata")
    fmt = data["format"]
    for index, name in enumerate(fmt.get("artifacts", ())):
        if not isinstance(name, str):
            raise FormatError(f"metadata.format.artifacts[{index}] must be str")
    for index, section in enumerate(fmt.get("sections", ())):
        check_section(section, f"metadata.format.sections[{index}]")


def check_trailer(data: Any) -> None:
    check(data, TRAILER, "trailer")
    for index, section in enumerate(data["sections"]):
        check_section(section, f"trailer.sections[{index}]")


def check_section(data: Any, where: str) -> None:
    check(data, SECTION, where)
    if data["kind"] not in SECTION_KINDS:
        raise FormatError(f"{where}.kind must be one of {SECTION_KINDS}, not {data['kind']!r}")
    for name in ("offset", "raw_size", "stored_size", "blocks"):
        if data[name] < 0:
            raise FormatError(f"{where}.{name} must not be negative")
    if data["sha256"] and not SHA256.fullmatch(data["sha256"]):
        raise FormatError(f"{where}.sha256 must be 64 lowercase hex digits")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), type(value).__name__)
