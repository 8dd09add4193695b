"""One fuzz input becomes one hostile FLM file, every crc32 recomputed so the mutation
reaches the parsers behind the checksums; ``run_one`` then reads it every way there is.

The invariant: ``read_meta``, ``verify`` and ``load`` each return or raise an ``FLMError``.
Anything else escapes ``run_one``: hypothesis reports it, atheris saves the input as a crash.
The same entry serves ``test_fuzz_container.py`` (hypothesis, every CI run) and
``fuzz_container.py`` (atheris, coverage-guided, time-boxed in CI's ``fuzz`` session).
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import shutil
import tempfile
import uuid
import zlib
from typing import Any

import flm_core
from flm_core.container.layout import (
    ARTIFACT_TAG,
    BLOCK,
    CRC,
    END,
    END_MAGIC,
    HEADER,
    MAGIC,
    MAX_BLOCK,
    MODEL_TAG,
    SECTION,
    TRAILER,
    TRAILER_TAG,
    crc32,
)

# Small enough that no input costs more than a second, wide enough that every check trips.
LIMITS = flm_core.Limits(max_total_bytes=64 << 20, ratio_floor=8 << 20, max_artifacts=64,
                         max_metadata_bytes=1 << 20)
CODECS = [b"zstd", b"zlib", b"bz2", b"lzma", b"none", b"", b"blob", b"rev\x00", b"\xff"]
TAGS = [MODEL_TAG, ARTIFACT_TAG, TRAILER_TAG, b"XXXX"]
SIZES = [0, 1, 2, 3, 4, 7, 8, 63, 64, 4096, MAX_BLOCK, MAX_BLOCK + 1, 2**31, 2**32 - 1]
SNIPPETS = [b"[]", b"{}", b'""', b"-1", b"1e999", b"true", b"null", b'"\\ud800"', b"[" * 200,
            b'{"a":' * 100, b"0" * 30, b'"x"', b"NaN", b"\xff"]


class Choices:
    """Decisions drawn from the fuzz input; an exhausted input decides 0 from then on."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def int(self, n: int) -> int:
        if n <= 1:
            return 0
        byte_count = (n.bit_length() + 7) // 8
        chunk = self.data[self.pos : self.pos + byte_count]
        self.pos += byte_count
        return int.from_bytes(chunk.ljust(byte_count, b"\0"), "little") % n

    def pick(self, options: list[Any]) -> Any:
        return options[self.int(len(options))]

    def bytes(self, limit: int) -> bytes:
        size = self.int(limit + 1)
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk


def seed_parts() -> dict[str, Any]:
    """A valid two-section file (model and one artifact, zlib) as editable parts."""
    meta = {
        "id": str(uuid.UUID(int=1)),
        "timestamp": datetime.datetime(2023, 3, 10, 11, 30).isoformat(),
        "framework": {"lib": "blob", "version": "1.0"},
        "model": {"obj": "bytes", "info": {}, "params": {"p": [1, 2]}, "metrics": {}},
        "plugin": {"distribution": "flm-blob", "version": "0"},
        "format": {"version": 1, "codec": "zlib", "artifacts": ["a.txt"], "sections": []},
        "extra": {"tags": ["x"]},
    }
    model, artifact = bytes(range(256)) * 3, b"hello artifact"
    return {
        "version": 1, "flags": 0, "meta": json.dumps(meta).encode(),
        "sections": [
            [MODEL_TAG, b"zlib", b"", [[len(model), zlib.compress(model), 0, 1, 0]]],
            [ARTIFACT_TAG, b"zlib", b"a.txt", [[len(artifact), zlib.compress(artifact), 0, 1, 0]]],
        ],
        "trailer": None,  # None: the trailer the sections call for
    }


def _trailer_for(parts: dict[str, Any]) -> bytes:
    import hashlib

    sections, offset = [], HEADER.size + CRC.size + len(parts["meta"]) + CRC.size
    for tag, codec, name, blocks in parts["sections"]:
        raw = b"".join(_inflate(b[1]) if codec == b"zlib" else b"" for b in blocks)
        sections.append({"kind": "model" if tag == MODEL_TAG else "artifact",
                         "name": name.decode("utf-8", "replace"),
                         "codec": codec.decode("utf-8", "replace"), "offset": offset,
                         "raw_size": sum(b[0] for b in blocks),
                         "stored_size": sum(len(b[1]) for b in blocks), "blocks": len(blocks),
                         "sha256": hashlib.sha256(raw).hexdigest()})
        offset += SECTION.size + len(codec) + len(name) + CRC.size
        offset += sum(BLOCK.size + len(b[1]) + CRC.size for b in blocks) + BLOCK.size + CRC.size
    return json.dumps({"sections": sections}).encode()


def _inflate(stored: bytes) -> bytes:
    try:
        return zlib.decompress(stored)
    except zlib.error:  # a mutated block: its digest will not match, as intended
        return b""


def build(parts: dict[str, Any]) -> bytes:
    """The bytes of ``parts``, with every length and crc32 consistent."""
    header = HEADER.pack(MAGIC, parts["version"], parts["flags"], len(parts["meta"]))
    out = [header, CRC.pack(crc32(header)), parts["meta"], CRC.pack(crc32(parts["meta"]))]
    for tag, codec, name, blocks in parts["sections"]:
        head = SECTION.pack(tag, len(codec) % 256, len(name) % 65536) + codec + name
        out += [head, CRC.pack(crc32(head))]
        for raw_size, stored, filter_id, itemsize, reserved in blocks:
            block = BLOCK.pack(raw_size % 2**32, len(stored), filter_id % 256, itemsize % 256,
                               reserved % 65536)
            out += [block, stored, CRC.pack(crc32(block, stored))]
        end = BLOCK.pack(0, 0, 0, 0, 0)
        out += [end, CRC.pack(crc32(end))]
    trailer = parts["trailer"] if parts["trailer"] is not None else _trailer_for(parts)
    tag = TRAILER.pack(TRAILER_TAG, len(trailer))
    out += [tag, trailer, CRC.pack(crc32(tag, trailer)), END.pack(len(trailer), END_MAGIC)]
    return b"".join(out)


def _edit_text(text: bytes, choose: Choices) -> bytes:
    at = choose.int(len(text) + 1)
    action = choose.int(4)
    if action == 0:
        return text[:at] + choose.pick(SNIPPETS) + text[at + choose.int(8) :]
    if action == 1:
        return text[:at] + choose.bytes(8) + text[at:]
    if action == 2:
        return text[:at] + text[at + 1 + choose.int(16) :]
    return text[:at] + bytes([choose.int(256)]) + text[at + 1 :]


def mutate(parts: dict[str, Any], choose: Choices) -> dict[str, Any]:
    for _ in range(1 + choose.int(4)):
        sections = parts["sections"]
        what = choose.int(10)
        if what == 0:
            parts["meta"] = _edit_text(parts["meta"], choose)
        elif what == 1 and parts["trailer"] is None:
            parts["trailer"] = _edit_text(_trailer_for(parts), choose)
        elif what == 2:
            parts["version"], parts["flags"] = choose.pick([1, 0, 2, 65535]), choose.int(3)
        elif sections and what in (3, 4, 5, 6):
            _tag, _codec, _name, blocks = choose.pick(sections)
            block = choose.pick(blocks) if blocks else None
            if what == 3 and block is not None:
                block[choose.pick([0, 0, 4])] = choose.pick(SIZES)
                block[2], block[3] = choose.pick([0, 0, 1, 2, 255]), choose.pick([1, 1, 2, 4, 8, 0])
            elif what == 4 and block is not None:
                raw = choose.bytes(64) * (1 + choose.int(3))
                block[1] = choose.pick([zlib.compress(raw), raw, block[1][: choose.int(32)],
                                        zlib.compress(bytes(len(raw) * 1000))])
                block[0] = choose.pick([len(raw), block[0], len(raw) * 1000])
            elif what == 5:
                section = choose.pick(sections)
                section[choose.int(3)] = choose.pick(
                    [choose.pick(TAGS), choose.pick(CODECS), choose.bytes(12), b"../x", b""])
            elif blocks:
                index = choose.int(len(blocks))
                blocks.insert(index, list(blocks[index])) if choose.int(2) else blocks.pop(index)
        elif what == 7 and sections:
            index = choose.int(len(sections))
            if choose.int(2):
                sections.insert(index, [list(s) if isinstance(s, list) else s
                                        for s in sections[index]])
            else:
                sections.pop(index)
        elif what == 8:
            parts["meta"] = parts["meta"].replace(b'"zlib"', b'"' + choose.pick(CODECS) + b'"')
        else:
            parts["trailer"] = choose.pick([None, b"{}", b'{"sections": []}', choose.bytes(40)])
    return parts


class BlobPlugin:
    """The ``blob`` framework: a model is its payload's bytes."""

    @flm_core.hookimpl
    def flm_serializers(self) -> list[flm_core.Serializer]:
        return [flm_core.Serializer(
            name="blob", distribution="flm-blob", can_serialize=lambda obj: False,
            framework_version=lambda: "1.0", dump=lambda model: None,
            load=lambda stream, meta: stream.read(),
        )]


def register() -> None:
    from flm_core import plugins

    manager = plugins.get_plugin_manager()
    if manager.get_plugin("flm-blob") is None:
        manager.register(BlobPlugin(), name="flm-blob")


def run_one(data: bytes) -> None:
    """Read one hostile file every way; only FLMError may come out."""
    register()
    hostile = build(mutate(seed_parts(), Choices(data)))
    for call in (flm_core.read_meta, flm_core.verify):
        with contextlib.suppress(flm_core.FLMError):
            call(io.BytesIO(hostile), limits=LIMITS)
    target = tempfile.mkdtemp(prefix="flm-fuzz-")
    try:
        flm_core.load(io.BytesIO(hostile), artifacts_dir=target, limits=LIMITS).close()
    except flm_core.FLMError:
        leftovers = list(__import__("os").listdir(target))
        assert not leftovers, f"a rejected file left {leftovers} behind"
    finally:
        shutil.rmtree(target, ignore_errors=True)
