"""Uploading while the file is written, visible at the URL only once complete.

Object stores (S3, GCS, Azure) take a multipart, resumable or block-list upload that shows
nothing at the key until it is completed: the parts go up while the model serialises, and a
failure aborts the upload, so the key keeps its previous object or stays absent. Backends
that write in place (``memory://``, FTP, ...) get a temporary key beside the target, moved
over it when complete. Local paths (``file://``) take the same atomic rename as plain paths.
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from flm_core.container.writer import atomic_path
from flm_core.errors import RemoteError
from flm_core.remote.fs import errors, filesystem, is_local

# S3 parts must be 5 MiB or more and number at most 10,000: 16 MiB parts reach 160 GB and
# keep the upload buffer at four of the container's 4 MiB blocks.
PART = 16 * 1024 * 1024
CHUNK = 1024 * 1024
QUEUED = 8
STAGED = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl"}


class _Upload(io.RawIOBase):
    """The writable stream ``dump`` writes to. A thread of its own sends the bytes, so the
    model keeps serialising while a part uploads; at most ``QUEUED`` chunks wait, bounding
    memory. Backend failures become RemoteError, raised on the next write or at the end."""

    def __init__(self, stream: Any, url: str, options: Mapping[str, Any]) -> None:
        self._stream, self._url, self._options = stream, url, options
        self._chunk = bytearray()
        self._queue: queue.Queue[bytes | None] = queue.Queue(QUEUED)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._send, name="flm-upload", daemon=True)
        self._thread.start()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self._error is not None:
            raise self._error
        self._chunk += data  # a copy: the caller may reuse its buffer once write returns
        if len(self._chunk) >= CHUNK:
            self._queue.put(bytes(self._chunk))
            self._chunk = bytearray()
        return memoryview(data).nbytes

    def _send(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is None:
                try:
                    with errors(self._url, self._options, "upload to"):
                        self._stream.write(chunk)
                except BaseException as exc:  # raised in the writer's thread
                    self._error = exc

    def finish(self) -> None:
        """Send what is buffered and wait for the sender; raise its error, if any."""
        if self._chunk and self._error is None:
            self._queue.put(bytes(self._chunk))
        self._chunk = bytearray()
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abandon(self) -> None:
        """Stop the sender without sending more (the upload is being discarded)."""
        self._error = self._error or RemoteError("upload abandoned")
        self._queue.put(None)
        self._thread.join()


def _discard(stream: Any) -> None:
    """Abort the upload. Never ``close()``: on these backends closing completes it."""
    with contextlib.suppress(Exception):
        stream.discard()
    stream.closed = True  # nor may garbage collection close it later


@contextlib.contextmanager
def writing(url: str, options: Mapping[str, Any]) -> Iterator[IO[bytes]]:
    """A stream that uploads to ``url`` as it is written; committed when the block exits
    normally, discarded when it raises."""
    fs, path = filesystem(url, options)
    if is_local(fs):
        with atomic_path(Path(path)) as local:
            yield local
        return
    protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    if protocols & STAGED:
        with errors(url, options, "start uploading to"):
            stream = fs.open(path, "wb", autocommit=False, block_size=PART)
        upload = _Upload(stream, url, options)
        try:
            yield upload  # type: ignore[misc]
            upload.finish()
            with errors(url, options, "finish uploading to"):
                stream.close()
                stream.commit()
        except BaseException:
            upload.abandon()
            _discard(stream)
            raise
        return
    parent, _, name = path.rpartition("/")
    tmp = f"{parent}/.{name}.{uuid.uuid4().hex}.flm-tmp" if parent else f".{name}.tmp"
    with errors(url, options, "start writing to"):
        stream = fs.open(tmp, "wb")
    upload = _Upload(stream, url, options)
    try:
        yield upload  # type: ignore[misc]
        upload.finish()
        with errors(url, options, "finish writing to"):
            stream.close()
            fs.mv(tmp, path)
    except BaseException:
        upload.abandon()
        with contextlib.suppress(Exception):
            stream.close()
            fs.rm(tmp)
        raise
