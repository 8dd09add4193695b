"""The on-disk layout: magic, fixed-size records and their struct formats (docs/format.md)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from typing import Any

from flm_core.errors import ChecksumError, FormatError
from flm_core.limits import Budget

MAGIC = b"\x89FLM\r\n\x1a\n"
END_MAGIC = b"\x1aFLMEND\n"
VERSION = 1

HEADER = struct.Struct("<8sHHI")  # magic, version, flags, metadata length; then crc32
SECTION = struct.Struct("<4sBH")  # tag, codec name length, section name length; then names, crc32
BLOCK = struct.Struct("<IIBBH")  # raw, stored size, filter, element size, reserved; data, crc
TRAILER = struct.Struct("<4sI")  # tag, trailer length; then JSON, crc32
END = struct.Struct("<I8s")  # trailer length, end magic
CRC = struct.Struct("<I")

MODEL_TAG = b"MODL"
ARTIFACT_TAG = b"ARTF"
TRAILER_TAG = b"TRLR"
SECTION_KINDS = {MODEL_TAG: "model", ARTIFACT_TAG: "artifact"}

FILTER_NONE = 0
FILTER_SHUFFLE = 1

MAX_METADATA = 16 * 1024 * 1024
MAX_BLOCK = 64 * 1024 * 1024
BLOCK_SIZE = 4 * 1024 * 1024
BLOCK_SLACK = 64 * 1024  # incompressible data grows a little


Bytes = bytes | bytearray | memoryview


def crc32(*parts: Bytes) -> int:
    value = 0
    for part in parts:
        value = zlib.crc32(part, value)
    return value


Progress = Callable[[int], None]


class Source:
    """Sequential reads of exact lengths from a binary stream, counting the offset.

    ``offset`` is where the stream stands in the file, so every error names a true file
    offset, also when reading starts mid-file (the tail). ``on_read(offset)`` is called after
    each read, for progress bars."""

    def __init__(self, stream: Any, offset: int = 0, on_read: Progress | None = None,
                 budget: Budget | None = None) -> None:
        self.stream = stream
        self.offset = offset
        self.on_read = on_read
        self.budget = budget or Budget()  # what reading this file may still cost
        self._pushback = b""

    def peek(self, size: int) -> bytes:
        """Up to ``size`` bytes without consuming them (fewer only at end of file)."""
        while len(self._pushback) < size:
            chunk = self.stream.read(size - len(self._pushback))
            if not chunk:
                break
            self._pushback += chunk
        return self._pushback[:size]

    def read(self, size: int, what: str) -> bytes:
        chunks = []
        remaining = size
        if self._pushback:
            chunks.append(self._pushback[:size])
            self._pushback = self._pushback[size:]
            remaining -= len(chunks[0])
        while remaining:
            chunk = self.stream.read(remaining)
            if not chunk:
                raise FormatError(
                    f"file is truncated: expected {size} bytes of {what} at offset {self.offset}"
                )
            chunks.append(chunk)
            remaining -= len(chunk)
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.offset += size
        if self.on_read is not None:
            self.on_read(self.offset)
        return data

    def readinto(self, out: memoryview, what: str) -> None:
        """Fill ``out`` exactly: the file's bytes land in the caller's memory, not a copy."""
        filled = 0
        if self._pushback:
            filled = min(len(out), len(self._pushback))
            out[:filled] = self._pushback[:filled]
            self._pushback = self._pushback[filled:]
        readinto = getattr(self.stream, "readinto", None)
        while filled < len(out):
            if readinto is None:
                chunk = self.stream.read(len(out) - filled)
                got = len(chunk)
                out[filled : filled + got] = chunk
            else:
                got = readinto(out[filled:]) or 0
            if not got:
                raise FormatError(f"file is truncated: expected {len(out)} bytes of {what} at "
                                  f"offset {self.offset}")
            filled += got
        self.offset += len(out)
        if self.on_read is not None:
            self.on_read(self.offset)

    def read_crc(self, what: str, *covered: Bytes) -> None:
        (stored,) = CRC.unpack(self.read(CRC.size, f"{what} checksum"))
        if stored != crc32(*covered):
            raise ChecksumError(f"{what} checksum mismatch before offset {self.offset}")

    def at_eof(self) -> bool:
        return not self.peek(1)


class Sink:
    """Sequential writes to a binary stream, counting the offset (works on pipes)."""

    def __init__(self, stream: Any, on_write: Progress | None = None) -> None:
        self.stream = stream
        self.offset = 0
        self.on_write = on_write

    def write(self, *parts: Bytes) -> None:
        for part in parts:
            view = memoryview(part).cast("B")
            written = self.stream.write(view)
            while written is not None and written < len(view):  # a raw stream may write less
                view = view[written:]
                written = self.stream.write(view)
            self.offset += memoryview(part).nbytes
        if self.on_write is not None:
            self.on_write(self.offset)

    def write_crc(self, *covered: Bytes) -> None:
        self.write(CRC.pack(crc32(*covered)))
