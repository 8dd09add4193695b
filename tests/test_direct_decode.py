"""Blocks decoded straight into a reader's buffer: same bytes, digest and counts as copying.

``SectionReader.readinto`` with room for whole blocks decodes them into the caller's memory
(a tensor, say), several at once on the pool. These tests drive the section streams
directly, with blocks shrunk to 4 KiB so that many-block sections stay small and fast.
"""

from __future__ import annotations

import array
import hashlib
import io
import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flm_core
from flm_core.codecs import BUILTIN_CODECS
from flm_core.container import blocks, sections
from flm_core.container.layout import BLOCK, Sink, Source
from flm_core.records import Codec

SMALL_BLOCK = 4096
CODECS = {codec.name: codec for codec in BUILTIN_CODECS}
POOL = ThreadPoolExecutor(2, thread_name_prefix="test-direct")


@pytest.fixture(autouse=True)
def _small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sections, "BLOCK_SIZE", SMALL_BLOCK)
    monkeypatch.setattr(blocks, "BLOCK_SIZE", SMALL_BLOCK)


def _write(codec: Codec, writes: list[Any], pool: Any = None) -> tuple[bytes, tuple[Any, ...]]:
    out = io.BytesIO()
    writer = sections.SectionWriter(Sink(out), codec, pool, 2)
    for data in writes:
        writer.write(data)
    counts = writer.finish()
    return out.getvalue(), counts


def _reader(codec: Codec, data: bytes, pool: Any) -> sections.SectionReader:
    return sections.SectionReader(Source(io.BytesIO(data)), codec, pool, 2, what="model")


def _read(reader: sections.SectionReader, sizes: list[int], total: int) -> bytes:
    """Read with the given readinto sizes (cycled), then the rest in one large read."""
    got = bytearray()
    turn = 0
    while len(got) < total:
        size = sizes[turn % len(sizes)] if sizes else total
        turn += 1
        buffer = bytearray(min(size, total - len(got)))
        n = reader.readinto(buffer)
        assert n, "the reader ended before its raw size"
        got += buffer[:n]
    assert reader.readinto(bytearray(10)) == 0
    return bytes(got)


def _payload(rng: random.Random, writes: int) -> list[Any]:
    parts: list[Any] = []
    for _ in range(writes):
        kind = rng.choice("bfdh")
        n = rng.choice([1, 7, 300, 1024, 1500, 5000, 9000])
        if kind == "b":
            parts.append(bytes(rng.getrandbits(8) & 0x0F for _ in range(n)))
        else:
            values = [rng.uniform(-1, 1) if kind in "fd" else rng.randint(-99, 99)
                      for _ in range(n)]
            parts.append(array.array(kind, values))
    return parts


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), writes=st.integers(1, 12),
       sizes=st.lists(st.sampled_from([1, 100, 4095, 4096, 4097, 9000, 20000, 10**6]),
                      max_size=4),
       codec=st.sampled_from(["zstd", "zlib", "none", "lzma"]), pooled=st.booleans())
def test_any_mix_of_read_sizes_gives_the_written_bytes_digest_and_counts(
    seed: int, writes: int, sizes: list[int], codec: str, pooled: bool,
) -> None:
    parts = _payload(random.Random(seed), writes)
    raw = b"".join(memoryview(p).cast("B").tobytes() for p in parts)
    data, written = _write(CODECS[codec], parts)
    reader = _reader(CODECS[codec], data, POOL if pooled else None)
    assert _read(reader, sizes, len(raw)) == raw
    assert reader.finish() == written
    assert written[3] == hashlib.sha256(raw).hexdigest()


@pytest.mark.parametrize("codec", ["zstd", "zlib", "none", "bz2"])
@pytest.mark.parametrize("pooled", [True, False])
def test_a_read_as_large_as_its_blocks_decodes_them_in_place(
    codec: str, pooled: bool, monkeypatch: pytest.MonkeyPatch,
) -> None:
    weights = array.array("f", (i / 7 for i in range(40 * SMALL_BLOCK // 4)))  # 40 blocks
    data, written = _write(CODECS[codec], [weights])
    fresh: list[int] = []
    real = sections.decode
    monkeypatch.setattr(sections, "decode", lambda *a: fresh.append(1) or real(*a))
    reader = _reader(CODECS[codec], data, POOL if pooled else None)
    target = array.array("f", bytes(len(weights) * 4))
    assert reader.readinto(memoryview(target).cast("B")) == len(weights) * 4
    assert target == weights
    assert not fresh, "a block was decoded into fresh memory and copied"
    assert reader.finish() == written


def test_a_codec_without_decompress_into_decodes_in_place_through_a_copy() -> None:
    rev = Codec(name="rev", compress=lambda b: bytes(b)[::-1],
                decompress=lambda data, size: bytes(data)[::-1])
    weights = array.array("d", (i * 0.5 for i in range(9 * SMALL_BLOCK // 8)))
    data, written = _write(rev, [weights])
    reader = _reader(rev, data, POOL)
    target = bytearray(len(weights) * 8)
    assert reader.readinto(target) == len(target)
    assert bytes(target) == weights.tobytes()
    assert reader.finish() == written


def _blocks(data: bytes) -> list[tuple[int, int]]:
    """(offset, stored size) of each data block in a section written by _write."""
    found, pos = [], 0
    while True:
        raw, stored, *_ = BLOCK.unpack_from(data, pos)
        if raw == 0:
            return found
        found.append((pos, stored))
        pos += BLOCK.size + stored + 4


@pytest.mark.parametrize("codec", ["zstd", "none"])
@pytest.mark.parametrize("where", ["data", "crc"])
def test_a_corrupt_block_in_the_middle_of_a_large_read_is_a_checksum_error(
    codec: str, where: str,
) -> None:
    weights = array.array("f", range(12 * SMALL_BLOCK // 4))
    data = bytearray(_write(CODECS[codec], [weights])[0])
    offset, stored = _blocks(bytes(data))[7]
    data[offset + BLOCK.size + (stored // 2 if where == "data" else stored)] ^= 0x40
    reader = _reader(CODECS[codec], bytes(data), POOL)
    with pytest.raises(flm_core.ChecksumError, match="block checksum mismatch"):
        reader.readinto(bytearray(len(weights) * 4))


@pytest.mark.parametrize("codec", ["zstd", "none"])
def test_a_file_cut_inside_a_large_read_is_a_format_error(codec: str) -> None:
    weights = array.array("f", range(12 * SMALL_BLOCK // 4))
    data = _write(CODECS[codec], [weights])[0]
    offset, _ = _blocks(data)[5]
    reader = _reader(CODECS[codec], data[: offset + BLOCK.size + 100], POOL)
    with pytest.raises(flm_core.FormatError, match="truncated"):
        reader.readinto(bytearray(len(weights) * 4))


def test_a_none_block_whose_stored_size_is_not_its_raw_size_is_refused() -> None:
    head = BLOCK.pack(SMALL_BLOCK, SMALL_BLOCK - 1, 0, 1, 0)
    body = bytes(SMALL_BLOCK - 1)
    crc = blocks.CRC.pack(blocks.crc32(head, body))
    reader = _reader(CODECS["none"], head + body + crc, POOL)
    with pytest.raises(flm_core.FormatError, match="wrong size"):
        reader.readinto(bytearray(4 * SMALL_BLOCK))


@pytest.mark.parametrize("written", [0, SMALL_BLOCK - 1, SMALL_BLOCK + 1])
def test_a_decompress_into_that_writes_the_wrong_length_is_a_format_error(written: int) -> None:
    liar = Codec(name="liar", compress=lambda b: bytes(b), decompress=lambda d, n: d,
                 decompress_into=lambda data, out: written)
    data = _write(liar, [bytes(range(256)) * (2 * SMALL_BLOCK // 256)])[0]
    reader = _reader(liar, data, None)
    with pytest.raises(flm_core.FormatError, match="wrong size"):
        reader.readinto(bytearray(2 * SMALL_BLOCK))


def test_a_decompress_into_that_raises_is_a_format_error_naming_the_codec() -> None:
    def explode(data: Any, out: memoryview) -> int:
        raise ValueError("no")

    broken = Codec(name="broken", compress=lambda b: bytes(b), decompress=lambda d, n: d,
                   decompress_into=explode)
    data = _write(broken, [bytes(3 * SMALL_BLOCK)])[0]
    with pytest.raises(flm_core.FormatError, match="broken cannot decode"):
        _reader(broken, data, POOL).readinto(bytearray(3 * SMALL_BLOCK))


@pytest.mark.parametrize(("block", "most"), [(SMALL_BLOCK, 4), (8 * SMALL_BLOCK, 1)])
def test_blocks_in_flight_are_bounded_in_number_and_bytes(
    block: int, most: int, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two workers: four blocks of the usual size decode at once, but blocks larger than the
    four together (a file may use blocks up to 64 MiB) go one at a time."""
    monkeypatch.setattr(sections, "BLOCK_SIZE", block)  # the writer cuts blocks this size
    data, written = _write(CODECS["zstd"], [array.array("f", range(12 * block // 4))])
    monkeypatch.setattr(sections, "BLOCK_SIZE", SMALL_BLOCK)  # what the reader plans with
    counts = {"started": 0, "finished": 0, "most": 0}
    real = sections.SectionReader._start_into

    def start(self: sections.SectionReader, target: memoryview) -> Any:
        counts["started"] += 1
        counts["most"] = max(counts["most"], counts["started"] - counts["finished"])
        wait = real(self, target)

        def done() -> Any:
            counts["finished"] += 1
            return wait()

        return done

    monkeypatch.setattr(sections.SectionReader, "_start_into", start)
    reader = _reader(CODECS["zstd"], data, POOL)
    target = bytearray(12 * block)
    assert reader.readinto(target) == len(target)
    assert reader.finish() == written
    assert counts["most"] == most


class _ReadOnly:
    """A stream with ``read`` alone (no ``readinto``), handing out a few bytes at a time."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, size: int = -1) -> bytes:
        size = min(size, 1000)
        chunk = self.data[self.pos : self.pos + size]
        self.pos += len(chunk)
        return chunk


def test_stored_blocks_are_read_straight_in_from_streams_without_readinto() -> None:
    weights = array.array("d", (i * 0.25 for i in range(5 * SMALL_BLOCK // 8)))
    data, written = _write(CODECS["none"], [weights])
    source = Source(_ReadOnly(data))
    # a peek past the first block header: the start of its data comes from the pushback
    assert source.peek(BLOCK.size + 100) == data[: BLOCK.size + 100]
    reader = sections.SectionReader(source, CODECS["none"], POOL, 2, what="model")
    target = bytearray(len(weights) * 8)
    assert reader.readinto(target) == len(target)
    assert bytes(target) == weights.tobytes()
    assert reader.finish() == written
