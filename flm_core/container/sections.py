"""Sections as sequences of independently compressed, individually checksummed blocks.

A section header names the codec; each block carries its raw and stored sizes, its filter
and a crc32 over its header and data; an empty block ends the section. Blocks are encoded
and decoded on a thread pool (the codecs release the GIL) while the caller's thread does
the I/O and the sha256 of the raw bytes, so memory stays bounded by a few blocks.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flm_core.container import filters
from flm_core.container.layout import (
    BLOCK,
    BLOCK_SIZE,
    BLOCK_SLACK,
    CRC,
    FILTER_NONE,
    FILTER_SHUFFLE,
    MAX_BLOCK,
    SECTION,
    SECTION_KINDS,
    Bytes,
    Sink,
    Source,
    crc32,
)
from flm_core.errors import ChecksumError, FLMError, FormatError
from flm_core.meta import SectionInfo
from flm_core.records import Codec

if TYPE_CHECKING:
    from concurrent.futures import Executor

SMALL_WRITE = 64 * 1024
SMALL_TYPED = 4096  # typed buffers from this size get a shuffled block of their own
SHUFFLE_SIZES = (2, 4, 8)

Encoded = tuple[bytes, Bytes, bytes]


def _encode(codec: Codec, block: memoryview, itemsize: int) -> Encoded:
    raw = filters.shuffle(block, itemsize) if itemsize > 1 else block
    stored = codec.compress(memoryview(raw))
    head = BLOCK.pack(block.nbytes, memoryview(stored).nbytes,
                      FILTER_SHUFFLE if itemsize > 1 else FILTER_NONE, itemsize, 0)
    return head, stored, CRC.pack(crc32(head, stored))


def _decode(codec: Codec, head: bytes, stored: bytes, crc: bytes, what: str) -> Bytes:
    raw_size, _, filter_id, itemsize, _ = BLOCK.unpack(head)
    if CRC.unpack(crc)[0] != crc32(head, stored):
        raise ChecksumError(f"block checksum mismatch in {what}")
    try:
        raw = codec.decompress(stored, raw_size)
    except FLMError:
        raise
    except Exception as exc:
        raise FormatError(f"{codec.name} cannot decode a block of {what}: {exc!r}") from exc
    if memoryview(raw).nbytes != raw_size:
        raise FormatError(f"a block of {what} decodes to the wrong size")
    if filter_id == FILTER_SHUFFLE:
        return filters.unshuffle(raw, itemsize)
    return raw


def write_section_header(sink: Sink, tag: bytes, codec: str, name: str) -> int:
    offset = sink.offset
    codec_b, name_b = codec.encode("ascii"), name.encode("utf-8")
    head = SECTION.pack(tag, len(codec_b), len(name_b))
    sink.write(head, codec_b, name_b)
    sink.write_crc(head, codec_b, name_b)
    return offset


def read_section_header(source: Source) -> tuple[str, str, str, int]:
    """Read a section header: (kind, codec, name, offset). Unknown tags raise FormatError."""
    offset = source.offset
    head = source.read(SECTION.size, "section header")
    tag, codec_len, name_len = SECTION.unpack(head)
    codec_b = source.read(codec_len, "section codec")
    name_b = source.read(name_len, "section name")
    source.read_crc("section header", head, codec_b, name_b)
    if tag not in SECTION_KINDS:
        raise FormatError(f"unknown section tag {tag!r} at offset {offset}")
    try:
        return SECTION_KINDS[tag], codec_b.decode("ascii"), name_b.decode("utf-8"), offset
    except UnicodeDecodeError as exc:
        raise FormatError(f"section header at offset {offset} is not valid text") from exc


class SectionWriter(io.RawIOBase):
    """The write-only stream a plugin's ``Payload.write`` receives."""

    def __init__(self, sink: Sink, codec: Codec, pool: Executor | None, workers: int) -> None:
        self._sink, self._codec, self._pool = sink, codec, pool
        self._limit = max(2, 2 * workers)
        self._pending = bytearray()
        self._queue: deque[Callable[[], Encoded]] = deque()
        self._sha = hashlib.sha256()
        self.raw_size = self.stored_size = self.blocks = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        size = view.nbytes
        shuffle = view.itemsize in SHUFFLE_SIZES and self._codec.name != "none"
        itemsize = view.itemsize if shuffle else 1
        view = view.cast("B") if view.c_contiguous else memoryview(view.tobytes())
        if size < SMALL_WRITE and not (itemsize > 1 and size >= SMALL_TYPED):
            self._pending += view
            while len(self._pending) >= BLOCK_SIZE:
                block = bytes(self._pending[:BLOCK_SIZE])
                del self._pending[:BLOCK_SIZE]
                self._submit(memoryview(block), 1)
            return size
        self._flush_pending()
        step = BLOCK_SIZE - BLOCK_SIZE % itemsize
        for start in range(0, size, step):
            self._submit(view[start : start + step], itemsize)
        self._drain(0)  # the caller may reuse its buffer once write returns
        return size

    def _submit(self, block: memoryview, itemsize: int, inline: bool = False) -> None:
        self._sha.update(block)
        self.raw_size += block.nbytes
        if self._pool is None or inline:
            encoded = _encode(self._codec, block, itemsize)
            self._queue.append(lambda: encoded)
        else:
            self._queue.append(self._pool.submit(_encode, self._codec, block, itemsize).result)
        self._drain(self._limit)

    def _drain(self, keep: int) -> None:
        while len(self._queue) > keep:
            head, stored, crc = self._queue.popleft()()
            self._sink.write(head, stored, crc)
            self.stored_size += memoryview(stored).nbytes
            self.blocks += 1

    def _flush_pending(self, last: bool = False) -> None:
        if self._pending:
            block, self._pending = bytes(self._pending), bytearray()
            # a lone last block has nothing to overlap with: a thread round trip is pure cost
            inline = last and not self._queue
            self._submit(memoryview(block), 1, inline)

    def finish(self) -> tuple[int, int, int, str]:
        """Write what is buffered and the end block; return (raw, stored, blocks, sha256)."""
        self._flush_pending(last=True)
        self._drain(0)
        end = BLOCK.pack(0, 0, FILTER_NONE, 0, 0)
        self._sink.write(end)
        self._sink.write_crc(end)
        return self.raw_size, self.stored_size, self.blocks, self._sha.hexdigest()


class SectionReader(io.RawIOBase):
    """The read-only stream over a section's raw bytes; blocks are verified before use."""

    def __init__(self, source: Source, codec: Codec, pool: Executor | None, workers: int,
                 what: str, digest: bool = True, kind: str = "model") -> None:
        self._source, self._codec, self._pool, self._what = source, codec, pool, what
        self._kind = kind
        self._ahead = max(1, workers)
        self._queue: deque[Callable[[], Bytes] | tuple[Any, ...]] = deque()
        self._itemsizes: deque[int] = deque()
        self.itemsize = 1  # of the current block: what its shuffle filter recorded
        self._current: memoryview = memoryview(b"")
        self._pos = 0
        self._ended = False
        # Block crc32s guard integrity; the sha256 proves the content is the one the trailer
        # names. With a pool it runs on a thread of its own, block after block, overlapped
        # with decoding and with the plugin reading.
        self._sha = hashlib.sha256() if digest else None
        # hashing futures in flight: each holds its block, so at most two wait (memory bound)
        self._hashing: deque[Any] = deque()
        self.raw_size = self.stored_size = self.blocks = 0

    def readable(self) -> bool:
        return True

    def _fetch(self) -> None:
        what = f"{self._what} at offset {self._source.offset}"  # errors name the block
        head = self._source.read(BLOCK.size, f"block header of {self._what}")
        raw_size, stored_size, filter_id, itemsize, reserved = BLOCK.unpack(head)
        if raw_size == 0 and stored_size == 0:
            self._source.read_crc(f"end of {self._what}", head)
            if filter_id or itemsize or reserved:
                raise FormatError(f"malformed end block in {self._what}")
            self._ended = True
            return
        valid_filter = (filter_id == FILTER_NONE and itemsize == 1) or (
            filter_id == FILTER_SHUFFLE and itemsize in SHUFFLE_SIZES and raw_size % itemsize == 0
        )
        # raw size 0 belongs to the end block alone; zlib would read max_length=0 as "no limit"
        oversized = not 0 < raw_size <= MAX_BLOCK or stored_size > MAX_BLOCK + BLOCK_SLACK
        if oversized or not valid_filter or reserved:
            raise FormatError(f"malformed block header in {what}")
        self._source.budget.charge(self._kind, raw_size, stored_size, what)  # before reading
        stored = self._source.read(stored_size, f"block of {self._what}")
        crc = self._source.read(CRC.size, f"block checksum of {self._what}")
        self.stored_size += stored_size
        self._queue.append((self._codec, head, stored, crc, what))
        self._itemsizes.append(itemsize if filter_id == FILTER_SHUFFLE else 1)

    def _next_block(self) -> bool:
        while not self._ended and len(self._queue) < self._ahead:
            self._fetch()
        if not self._queue:
            return False
        if self._pool is not None and len(self._queue) > 1:
            # decode ahead on the pool only when there is more than one block to overlap
            pool = self._pool
            self._queue = deque(
                pool.submit(_decode, *item).result if isinstance(item, tuple) else item
                for item in self._queue
            )
        item = self._queue.popleft()
        self.itemsize = self._itemsizes.popleft()
        raw = memoryview(_decode(*item) if isinstance(item, tuple) else item()).cast("B")
        if self._sha is not None:
            if self._pool is None:
                self._sha.update(raw)
            else:
                while len(self._hashing) >= 2:
                    self._hashing.popleft().result()
                self._hashing.append(_hasher().submit(self._sha.update, raw))
        self.raw_size += len(raw)
        self.blocks += 1
        self._current, self._pos = raw, 0
        return True

    def readinto(self, buffer: Any) -> int:
        out = memoryview(buffer).cast("B")
        while self._pos >= len(self._current):
            if not self._next_block():
                return 0
        n = min(len(out), len(self._current) - self._pos)
        out[:n] = self._current[self._pos : self._pos + n]
        self._pos += n
        return n

    def read_block(self) -> memoryview | None:
        """The rest of the current block, or the next block; ``itemsize`` says its filter.

        Block by block, a copy can keep each block's shuffle (recompress does)."""
        while self._pos >= len(self._current):
            if not self._next_block():
                return None
        block = self._current[self._pos :]
        self._pos = len(self._current)
        return block

    def readall(self) -> bytes:
        parts = [bytes(self._current[self._pos :])]
        self._pos = len(self._current)
        while self._next_block():
            parts.append(bytes(self._current))
            self._pos = len(self._current)
        return b"".join(parts)

    def finish(self) -> tuple[int, int, int, str]:
        """Read and verify what the consumer left; return (raw, stored, blocks, sha256).

        The digest is ``""`` when the reader was made with ``digest=False``."""
        self._pos = len(self._current)
        while self._next_block():
            self._pos = len(self._current)
        while self._hashing:
            self._hashing.popleft().result()
        digest = self._sha.hexdigest() if self._sha is not None else ""
        return self.raw_size, self.stored_size, self.blocks, digest


_hashers: list[Executor] = []
_hasher_lock = threading.Lock()


def _hasher() -> Executor:
    """One thread for every reader's sha256: a digest's updates must run in block order."""
    with _hasher_lock:
        if not _hashers:
            from concurrent.futures import ThreadPoolExecutor

            _hashers.append(ThreadPoolExecutor(1, thread_name_prefix="flm-sha256"))
        return _hashers[0]


def section_info(kind: str, name: str, codec: str, offset: int,
                 counts: tuple[int, int, int, str]) -> SectionInfo:
    raw, stored, blocks, digest = counts
    return SectionInfo(kind=kind, name=name, codec=codec, offset=offset, raw_size=raw,
                       stored_size=stored, blocks=blocks, sha256=digest)
