"""Sections as sequences of independently compressed, individually checksummed blocks.

A section header names the codec; each block carries its raw and stored sizes, its filter
and a crc32 over its header and data; an empty block ends the section. Blocks are encoded
and decoded on a thread pool (the codecs release the GIL) while the caller's thread does
the I/O and the sha256 of the raw bytes, so memory stays bounded by a few blocks.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flm_core.container.blocks import Encoded, check_crc, decode, decode_into, encode
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
)
from flm_core.errors import FormatError
from flm_core.meta import SectionInfo
from flm_core.records import Codec

if TYPE_CHECKING:
    from concurrent.futures import Executor

SMALL_WRITE = 64 * 1024
SMALL_TYPED = 4096  # typed buffers from this size get a shuffled block of their own
SHUFFLE_SIZES = (2, 4, 8)

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
            encoded = encode(self._codec, block, itemsize)
            self._queue.append(lambda: encoded)
        else:
            self._queue.append(self._pool.submit(encode, self._codec, block, itemsize).result)
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
    """The read-only stream over a section's raw bytes; blocks are verified before use.

    A ``readinto`` with room for whole blocks has them decoded straight into the caller's
    buffer, several at once on the pool (a tensor's memory, say: no copy, no fresh pages);
    smaller reads get blocks decoded ahead into fresh memory and copied out."""

    def __init__(self, source: Source, codec: Codec, pool: Executor | None, workers: int,
                 what: str, digest: bool = True, kind: str = "model") -> None:
        self._source, self._codec, self._pool, self._what = source, codec, pool, what
        self._kind = kind
        self._ahead = max(1, workers)
        self._queue: deque[Callable[[], Bytes] | tuple[Any, ...]] = deque()
        self._itemsizes: deque[int] = deque()
        self._head: tuple[bytes, str] | None = None  # read and checked; its data is next
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

    def _read_head(self) -> tuple[bytes, str] | None:
        """The next block's header, checked and paid for; None at the end of the section."""
        if self._head is not None or self._ended:
            return self._head
        what = f"{self._what} at offset {self._source.offset}"  # errors name the block
        head = self._source.read(BLOCK.size, f"block header of {self._what}")
        raw_size, stored_size, filter_id, itemsize, reserved = BLOCK.unpack(head)
        if raw_size == 0 and stored_size == 0:
            self._source.read_crc(f"end of {self._what}", head)
            if filter_id or itemsize or reserved:
                raise FormatError(f"malformed end block in {self._what}")
            self._ended = True
            return None
        valid_filter = (filter_id == FILTER_NONE and itemsize == 1) or (
            filter_id == FILTER_SHUFFLE and itemsize in SHUFFLE_SIZES and raw_size % itemsize == 0
        )
        # raw size 0 belongs to the end block alone; zlib would read max_length=0 as "no limit"
        oversized = not 0 < raw_size <= MAX_BLOCK or stored_size > MAX_BLOCK + BLOCK_SLACK
        if oversized or not valid_filter or reserved:
            raise FormatError(f"malformed block header in {what}")
        self._source.budget.charge(self._kind, raw_size, stored_size, what)  # before reading
        self._head = head, what
        return self._head

    def _take_head(self) -> tuple[bytes, str, int, int]:
        assert self._head is not None
        (head, what), self._head = self._head, None
        _, stored_size, filter_id, itemsize, _ = BLOCK.unpack(head)
        self.stored_size += stored_size
        return head, what, stored_size, itemsize if filter_id == FILTER_SHUFFLE else 1

    def _fetch(self) -> None:
        if self._read_head() is None:
            return
        head, what, stored_size, itemsize = self._take_head()
        stored = self._source.read(stored_size, f"block of {self._what}")
        crc = self._source.read(CRC.size, f"block checksum of {self._what}")
        self._queue.append((self._codec, head, stored, crc, what))
        self._itemsizes.append(itemsize)

    def _next_block(self, ahead: bool = True) -> bool:
        while not self._ended and len(self._queue) < (self._ahead if ahead else 1):
            self._fetch()
        if not self._queue:
            return False
        if ahead and self._pool is not None and len(self._queue) > 1:
            # decode ahead on the pool only when there is more than one block to overlap
            pool = self._pool
            self._queue = deque(
                pool.submit(decode, *item).result if isinstance(item, tuple) else item
                for item in self._queue
            )
        item = self._queue.popleft()
        self.itemsize = self._itemsizes.popleft()
        raw = memoryview(decode(*item) if isinstance(item, tuple) else item()).cast("B")
        self._hash(raw)
        self.raw_size += len(raw)
        self.blocks += 1
        self._current, self._pos = raw, 0
        return True

    def _hash(self, raw: memoryview) -> None:
        if self._sha is None:
            return
        if self._pool is None:
            self._sha.update(raw)
            return
        while len(self._hashing) >= 2:
            self._hashing.popleft().result()
        self._hashing.append(_hasher().submit(self._sha.update, raw))

    def _wait_hashing(self) -> None:
        while self._hashing:
            self._hashing.popleft().result()

    def readinto(self, buffer: Any) -> int:
        out = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(out):
            if self._pos < len(self._current):
                n = min(len(out) - filled, len(self._current) - self._pos)
                out[filled : filled + n] = self._current[self._pos : self._pos + n]
                self._pos += n
                filled += n
                continue
            room = len(out) - filled
            if not self._queue and self._fits(room):
                filled += self._decode_into(out[filled:])
            elif filled or not self._next_block(ahead=room < BLOCK_SIZE):
                break  # a reader as large as a block starts no read-ahead: blocks drain
        return filled

    def _fits(self, room: int) -> bool:
        head = self._read_head()
        return head is not None and BLOCK.unpack(head[0])[0] <= room

    def _decode_into(self, out: memoryview) -> int:
        """Decode the blocks that fit whole into ``out``, in order, up to ``workers`` at
        once; return the bytes filled. Their digest is done when this returns: the caller
        may change its buffer then."""
        filled, claimed = 0, 0
        inflight: deque[tuple[Callable[[], Any], memoryview]] = deque()
        # Twice the workers keeps them busy; the bytes bound keeps a file of 64 MiB blocks
        # from holding 2 x workers of them in memory at once.
        most = 2 * self._ahead
        try:
            while True:
                while (len(inflight) < most and claimed - filled < most * BLOCK_SIZE
                       and self._fits(len(out) - claimed)):
                    raw_size = BLOCK.unpack(self._head[0])[0]  # type: ignore[index]
                    target = out[claimed : claimed + raw_size]
                    inflight.append((self._start_into(target), target))
                    claimed += raw_size
                if not inflight:
                    break
                wait, target = inflight.popleft()
                wait()
                self._hash(target)
                filled += len(target)
                self.raw_size += len(target)
                self.blocks += 1
            self._wait_hashing()
        except BaseException:
            for wait, _ in inflight:  # nothing may still write into the caller's buffer
                with contextlib.suppress(Exception):  # the first error is the one raised
                    wait()
            raise
        return filled

    def _start_into(self, target: memoryview) -> Callable[[], Any]:
        head, what, stored_size, itemsize = self._take_head()
        if self._codec.name == "none" and itemsize == 1:
            # stored bytes are the raw bytes: the file is read straight into the target
            if stored_size != len(target):
                raise FormatError(f"a block of {what} decodes to the wrong size")
            self._source.readinto(target, f"block of {self._what}")
            crc = self._source.read(CRC.size, f"block checksum of {self._what}")
            check_crc(head, target, crc, what)
            return _done
        stored = self._source.read(stored_size, f"block of {self._what}")
        crc = self._source.read(CRC.size, f"block checksum of {self._what}")
        job = (self._codec, head, stored, crc, what, target)
        if self._pool is None:
            decode_into(*job)
            return _done
        return self._pool.submit(decode_into, *job).result

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
        self._wait_hashing()
        digest = self._sha.hexdigest() if self._sha is not None else ""
        return self.raw_size, self.stored_size, self.blocks, digest


def _done() -> None:
    return None


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
