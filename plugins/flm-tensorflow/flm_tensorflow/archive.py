"""The ``.keras`` archive of a payload, checked whole before Keras reads any of it.

Like safetensors' header: the zip's central directory is parsed first, every member's span is
checked against the archive's length, names and kinds come from a closed list, and the JSON
members are size- and depth-checked, all before Keras allocates anything. flm-tensorflow
writes every member uncompressed (the core compresses the section), so a member must be
stored, not deflated: the archive can never expand beyond its own bytes, which the core has
already bounded (``flm_core.Limits``).

Keras needs random access to a zip, and the core's section stream is one-way, so the archive
is held in memory up to :data:`MEMORY_BYTES` and spills to a private temporary file (removed
after loading) only beyond that.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import zipfile
from typing import IO, Any

import flm_core
from flm_core import FLMError, FormatError, UnsafeModelError

CHUNK = 1024 * 1024
MAX_MEMBERS = 10_000
MAX_CONFIG_BYTES = 64 * 1024 * 1024
MAX_METADATA_BYTES = 1024 * 1024
MAX_DEPTH = 200
MEMORY_BYTES = 512 * 1024 * 1024
MEMORY_ENV = "FLM_TENSORFLOW_MEMORY_BYTES"
CONFIG, METADATA = "config.json", "metadata.json"
WEIGHTS = frozenset({"model.weights.h5", "model.weights.npz"})
TOP_LEVEL = frozenset({CONFIG, METADATA, *WEIGHTS})
# Assets (a TextVectorization's vocabulary...): plain relative paths under assets/.
_ASSET = re.compile(r"assets/([A-Za-z0-9_.\-]+/)*[A-Za-z0-9_.\-]*\Z")
# Keras turns {"class_name": "__numpy__", "config": {"value", "dtype"}} into np.array(value,
# dtype): a dtype such as "S15000000000" asks for 15 GB whatever the value. Numbers only.
ARRAY_CLASSES = frozenset({"__numpy__", "__tensor__"})
NUMERIC_DTYPES = frozenset({
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "bfloat16", "float32", "float64", "complex64", "complex128",
})
LimitError: type[FLMError] = getattr(flm_core, "LimitError", FormatError)


def memory_bytes() -> int:
    text = os.environ.get(MEMORY_ENV, "")
    try:
        return int(text) if text else MEMORY_BYTES
    except ValueError as exc:
        raise flm_core.OptionError(f"{MEMORY_ENV}={text!r} is not a number of bytes") from exc


def receive(stream: IO[bytes]) -> IO[bytes]:
    """The payload as a seekable file, checked (:func:`check`); the caller closes it."""
    spooled: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - returned open
        max_size=memory_bytes(), prefix="flm-tensorflow-")
    try:
        shutil.copyfileobj(stream, spooled, CHUNK)
        spooled.seek(0)
        check(spooled)
        spooled.seek(0)
    except BaseException:
        spooled.close()
        raise
    return spooled


def check(archive: IO[bytes]) -> None:
    """Refuse an archive that is not what flm-tensorflow writes, before Keras opens it."""
    length = archive.seek(0, os.SEEK_END)
    archive.seek(0)
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise LimitError(f"the Keras archive lists {len(infos)} members, more than "
                                 f"{MAX_MEMBERS}")
            names = [_check_member(info, length) for info in infos]
            _check_names(names)
            config = _read_json(zf, CONFIG, MAX_CONFIG_BYTES)
            if METADATA in names:
                _read_json(zf, METADATA, MAX_METADATA_BYTES)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError,
            NotImplementedError, KeyError, RuntimeError) as exc:
        if isinstance(exc, FLMError):
            raise
        raise FormatError(f"the Keras archive is not a valid zip: {type(exc).__name__}: "
                          f"{str(exc)[:300]}") from exc
    check_config(config)


def _check_member(info: zipfile.ZipInfo, length: int) -> str:
    name = info.filename
    if info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size:
        raise FormatError(f"Keras archive member {name!r:.100} is compressed; flm-tensorflow "
                          "stores members uncompressed")
    if info.flag_bits & 0x1:
        raise FormatError(f"Keras archive member {name!r:.100} is encrypted")
    if info.header_offset < 0 or info.header_offset + info.compress_size > length:
        raise FormatError(f"Keras archive member {name!r:.100} lies beyond the archive's "
                          f"{length} bytes")
    return name


def _check_names(names: list[str]) -> None:
    if len(set(names)) != len(names):
        raise FormatError("the Keras archive names a member twice")
    for name in names:
        if name not in TOP_LEVEL and not (_ASSET.match(name) and ".." not in name.split("/")):
            raise UnsafeModelError(f"the Keras archive holds an unexpected member "
                                   f"{name!r:.100}: only {sorted(TOP_LEVEL)} and assets/")
    if CONFIG not in names or not WEIGHTS & set(names):
        raise FormatError("the Keras archive lacks its config.json or its weights")


def _read_json(zf: zipfile.ZipFile, name: str, limit: int) -> Any:
    if zf.getinfo(name).file_size > limit:
        raise LimitError(f"the Keras archive's {name} is over {limit} bytes")
    with zf.open(name) as member:
        raw = member.read(limit + 1)
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise FormatError(f"the Keras archive's {name} is not JSON: {str(exc)[:200]}") from exc
    check_depth(value, name)
    return value


def check_depth(value: Any, what: str) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise FormatError(f"the Keras archive's {what} nests deeper than {MAX_DEPTH}")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def check_config(config: Any) -> None:
    """Every inline array Keras would build must have a numeric dtype and numeric values."""
    if not isinstance(config, dict):
        raise FormatError("the Keras archive's config.json is not an object")
    # Keras 3.14 builds an empty model from a config that is not an object, and then loads
    # none of the file's weights: refuse it before Keras sees it, as 3.15 does.
    if not isinstance(config.get("class_name"), str) or not isinstance(config.get("config"),
                                                                        dict):
        raise FormatError("the Keras archive's config.json must name a class and hold its "
                          "config as an object")
    stack: list[Any] = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("class_name") in ARRAY_CLASSES:
                _check_array(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _check_array(item: dict[str, Any]) -> None:
    inner = item.get("config")
    dtype = inner.get("dtype") if isinstance(inner, dict) else None
    if dtype not in NUMERIC_DTYPES:
        raise UnsafeModelError(f"the Keras config builds an array of dtype {dtype!r:.50}; "
                               f"only {sorted(NUMERIC_DTYPES)} are allowed")
    values = [inner.get("value")] if isinstance(inner, dict) else []
    while values:
        value = values.pop()
        if isinstance(value, list):
            values.extend(value)
        elif type(value) not in (int, float, bool):
            raise UnsafeModelError(f"the Keras config builds an array from {value!r:.50}: "
                                   "numbers only")
