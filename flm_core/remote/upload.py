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
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from flm_core.container.writer import atomic_path
from flm_core.remote.fs import errors, filesystem, is_local

# S3 parts must be 5 MiB or more and number at most 10,000: 16 MiB parts reach 160 GB and
# keep the upload buffer at four of the container's 4 MiB blocks.
PART = 16 * 1024 * 1024
STAGED = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl"}


class _Upload(io.RawIOBase):
    """The writable stream ``dump`` writes to; backend failures become RemoteError."""

    def __init__(self, stream: Any, url: str, options: Mapping[str, Any]) -> None:
        self._stream, self._url, self._options = stream, url, options

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        with errors(self._url, self._options, "upload to"):
            self._stream.write(data)
        return memoryview(data).nbytes


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
        try:
            yield _Upload(stream, url, options)  # type: ignore[misc]
            with errors(url, options, "finish uploading to"):
                stream.close()
                stream.commit()
        except BaseException:
            _discard(stream)
            raise
        return
    parent, _, name = path.rpartition("/")
    tmp = f"{parent}/.{name}.{uuid.uuid4().hex}.flm-tmp" if parent else f".{name}.tmp"
    with errors(url, options, "start writing to"):
        stream = fs.open(tmp, "wb")
    try:
        yield _Upload(stream, url, options)  # type: ignore[misc]
        with errors(url, options, "finish writing to"):
            stream.close()
            fs.mv(tmp, path)
    except BaseException:
        with contextlib.suppress(Exception):
            stream.close()
            fs.rm(tmp)
        raise
