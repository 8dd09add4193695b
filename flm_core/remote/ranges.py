"""Reading an object by range requests that grow and run ahead while it is read in order.

After a seek the first request is small (``read_meta`` needs a few KB from the head and the
tail); each request read through to its end makes the next one four times larger, up to
``LARGEST``, and once reading is plainly sequential ``AHEAD`` requests stay in flight, so the
download overlaps decompression and several connections share the transfer. Memory stays
bounded by ``AHEAD * LARGEST``. Few, large requests matter: some servers (moto's S3) read
the whole object for every range they answer (benchmarks/remote.py measures it).
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any

from flm_core.errors import RemoteError
from flm_core.remote.fs import errors, filesystem, is_local, redact

FIRST = 16 * 1024
TAIL = 8 * 1024  # a seek this close to the end fetches the whole tail: trailer and end record
LARGEST = 16 * 1024 * 1024
AHEAD = 4

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _fetchers() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(2 * AHEAD, thread_name_prefix="flm-fetch")
        return _pool


class RangeReader(io.RawIOBase):
    """A seekable, read-only stream over ``fetch(start, end)`` of an object of ``size`` bytes."""

    def __init__(self, fetch: Callable[[int, int], bytes], size: int, url: str) -> None:
        self._fetch, self.size, self._url = fetch, size, url
        self._pos = 0
        self._buf = memoryview(b"")
        self._buf_start = 0
        self._queue: deque[tuple[int, int, Future[bytes]]] = deque()
        self._next = 0
        self._step = FIRST
        self._streak = 0  # requests read through to their end since the last seek

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        out = memoryview(buffer).cast("B")
        if self._pos >= self.size or not out:
            return 0
        at = self._pos - self._buf_start
        if not 0 <= at < len(self._buf):
            self._advance()
            at = self._pos - self._buf_start
        n = min(len(out), len(self._buf) - at)
        out[:n] = self._buf[at : at + n]
        self._pos += n
        return n

    def _advance(self) -> None:
        """Make the buffer the request that holds ``_pos``, keeping the next ones in flight."""
        in_order = bool(self._buf) and self._pos == self._buf_start + len(self._buf)
        if in_order:
            self._streak += 1
        if not (self._queue and self._queue[0][0] <= self._pos < self._queue[0][1]):
            if not (in_order and self._next == self._pos):
                self._drop()  # a seek: start again small, fetch nothing ahead
                near_end = self.size - self._pos < TAIL
                self._next = max(0, self.size - TAIL) if near_end else self._pos
                self._step, self._streak = FIRST, 0
            self._schedule()
        start, end, future = self._queue.popleft()
        data = future.result()
        if len(data) != end - start:
            raise RemoteError(f"{redact(self._url)} changed or shrank while it was read; "
                              "read it again")
        self._buf, self._buf_start = memoryview(data), start
        if self._streak:
            self._schedule()

    def _schedule(self) -> None:
        wanted = AHEAD if self._streak >= 2 else 1
        while len(self._queue) < wanted and self._next < self.size:
            if self._streak:
                self._step = min(4 * self._step, LARGEST)
            end = min(self.size, self._next + self._step)
            self._queue.append((self._next, end, _fetchers().submit(self._fetch, self._next, end)))
            self._next = end

    def _drop(self) -> None:
        for _, _, future in self._queue:
            future.cancel()
        self._queue.clear()

    def close(self) -> None:
        self._drop()
        self._buf = memoryview(b"")
        super().close()


class _Sequential(io.RawIOBase):
    """A backend stream of unknown size (an HTTP server sending no length): read in order."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        out = memoryview(buffer).cast("B")
        data = self._stream.read(len(out))
        out[: len(data)] = data
        return len(data)


@contextlib.contextmanager
def reading(url: str, options: Mapping[str, Any]) -> Iterator[IO[bytes]]:
    """A binary stream over the object at ``url``, never copied whole to local disk."""
    fs, path = filesystem(url, options)  # first: it explains a missing fsspec
    from fsspec.spec import AbstractBufferedFile

    with errors(url, options, "read"):
        if is_local(fs):
            stream: Any = open(path, "rb")  # noqa: SIM115 - closed below, like fs.open's
        else:
            stream = fs.open(path, "rb", cache_type="none")
    try:
        if not isinstance(stream, AbstractBufferedFile):
            yield stream  # local files and in-memory objects: already plain file-likes
        elif stream.size is None:
            yield _Sequential(stream)  # type: ignore[misc]
        else:
            raw = stream

            def fetch(start: int, end: int) -> bytes:
                with errors(url, options, "read"):
                    return raw._fetch_range(start, end)  # type: ignore[no-any-return]

            with RangeReader(fetch, stream.size, url) as reader:
                yield reader  # type: ignore[misc]
    finally:
        with errors(url, options, "close"):
            stream.close()
