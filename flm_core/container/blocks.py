"""Encoding and decoding one block: the work the section streams hand to their thread pool.

A block is decoded either into fresh memory (``decode``) or straight into the memory its
reader will end up in (``decode_into``), such as a tensor being loaded: the crc32 is checked
over the stored bytes first, and nothing is written past the destination.
"""

from __future__ import annotations

import threading

from flm_core.container import filters
from flm_core.container.layout import (
    BLOCK,
    BLOCK_SIZE,
    CRC,
    FILTER_NONE,
    FILTER_SHUFFLE,
    Bytes,
    crc32,
)
from flm_core.errors import ChecksumError, FLMError, FormatError
from flm_core.records import Codec

Encoded = tuple[bytes, Bytes, bytes]
_local = threading.local()


def encode(codec: Codec, block: memoryview, itemsize: int) -> Encoded:
    raw = filters.shuffle(block, itemsize) if itemsize > 1 else block
    stored = codec.compress(memoryview(raw))
    head = BLOCK.pack(block.nbytes, memoryview(stored).nbytes,
                      FILTER_SHUFFLE if itemsize > 1 else FILTER_NONE, itemsize, 0)
    return head, stored, CRC.pack(crc32(head, stored))


def decode(codec: Codec, head: bytes, stored: bytes, crc: bytes, what: str) -> Bytes:
    raw_size, _, filter_id, itemsize, _ = BLOCK.unpack(head)
    check_crc(head, stored, crc, what)
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


def decode_into(codec: Codec, head: bytes, stored: bytes, crc: bytes, what: str,
                out: memoryview) -> None:
    """Decode a block into ``out``, exactly its raw size: a shuffled block goes through this
    thread's scratch buffer (reused, so no fresh pages), an unshuffled one lands directly."""
    _, _, filter_id, itemsize, _ = BLOCK.unpack(head)
    check_crc(head, stored, crc, what)
    try:
        if filter_id == FILTER_SHUFFLE:
            raw = _scratch(len(out))
            _decompress_into(codec, stored, raw, what)
            filters.unshuffle_into(raw, itemsize, out)
        else:
            _decompress_into(codec, stored, out, what)
    except FLMError:
        raise
    except Exception as exc:
        raise FormatError(f"{codec.name} cannot decode a block of {what}: {exc!r}") from exc


def check_crc(head: bytes, stored: Bytes, crc: bytes, what: str) -> None:
    if CRC.unpack(crc)[0] != crc32(head, stored):
        raise ChecksumError(f"block checksum mismatch in {what}")


def _decompress_into(codec: Codec, stored: bytes, out: memoryview, what: str) -> None:
    if codec.decompress_into is not None:
        written = codec.decompress_into(stored, out)
    else:
        raw = memoryview(codec.decompress(stored, len(out))).cast("B")
        written = len(raw)
        if written == len(out):
            out[:] = raw
    if written != len(out):
        raise FormatError(f"a block of {what} decodes to the wrong size")


def _scratch(size: int) -> memoryview:
    # One block-sized buffer per thread, kept: a larger (foreign) block gets its own.
    if size > BLOCK_SIZE:
        return memoryview(bytearray(size))
    buffer = getattr(_local, "buffer", None)
    if buffer is None:
        buffer = _local.buffer = bytearray(BLOCK_SIZE)
    return memoryview(buffer)[:size]
