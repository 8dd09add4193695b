"""The range reader behind remote loads: small requests after a seek, larger ones and a
bounded number in flight while reading in order. No fsspec needed: fetch is a function."""

from __future__ import annotations

import os
import threading
import time

import pytest

import flm_core
from flm_core.remote import ranges


class Store:
    """An object in memory; records each request and the most ever in flight."""

    def __init__(self, data: bytes, delay: float = 0.0) -> None:
        self.data, self.delay = data, delay
        self.requests: list[tuple[int, int]] = []
        self.active = self.most_active = 0
        self._lock = threading.Lock()

    def fetch(self, start: int, end: int) -> bytes:
        with self._lock:
            self.requests.append((start, end))
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        time.sleep(self.delay)
        with self._lock:
            self.active -= 1
        return self.data[start:end]


def _reader(store: Store) -> ranges.RangeReader:
    return ranges.RangeReader(store.fetch, len(store.data), "s3://bucket/m.flm")


def test_reading_in_order_returns_the_bytes_with_growing_requests_and_bounded_flight() -> None:
    store = Store(os.urandom(2 * ranges.LARGEST + 12345), delay=0.002)
    reader, parts = _reader(store), []
    while chunk := reader.read(1 << 20):
        parts.append(chunk)
    assert b"".join(parts) == store.data
    sizes = [end - start for start, end in sorted(store.requests)]
    assert sizes[:3] == [ranges.FIRST, 4 * ranges.FIRST, 16 * ranges.FIRST]
    assert max(sizes) == ranges.LARGEST
    assert 1 < store.most_active <= ranges.AHEAD


def test_head_then_tail_takes_two_small_requests() -> None:
    store = Store(os.urandom(50 * 1024 * 1024))
    reader = _reader(store)
    assert reader.read(20) == store.data[:20]
    assert reader.read(2000) == store.data[20:2020]
    reader.seek(-12, os.SEEK_END)
    assert reader.read(12) == store.data[-12:]
    reader.seek(-900, os.SEEK_END)
    assert reader.read(888) == store.data[-900:-12]
    assert sum(end - start for start, end in store.requests) <= ranges.FIRST + ranges.TAIL
    assert len(store.requests) == 2


def test_a_short_answer_is_an_error_not_a_short_file() -> None:
    store = Store(os.urandom(100_000))
    reader = ranges.RangeReader(lambda s, e: store.fetch(s, e)[:-1], 100_000, "s3://b/m.flm")
    with pytest.raises(flm_core.RemoteError, match=r"s3://b/m\.flm changed or shrank"):
        reader.read(10)
