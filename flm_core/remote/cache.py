"""An opt-in local cache of remote files for nodes that load the same model repeatedly.

An entry is named by the sha256 of the file's head and tail: the metadata and the trailer,
which records every section's size and sha256. Before each use the remote head and tail
are read again (a few KB), so a replaced object is a new key and a stale entry is never
used; the caller then loads the entry with every section digest checked against that
trailer, so an entry altered on disk fails and is evicted rather than used.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from flm_core.container.layout import CRC, END, END_MAGIC, HEADER, MAGIC, MAX_METADATA, TRAILER
from flm_core.errors import FLMError, FormatError, RemoteError
from flm_core.remote.fs import redact
from flm_core.remote.ranges import LARGEST, reading


def _exact(stream: IO[bytes], size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            raise FormatError("file is truncated")
        data += chunk
    return data


def file_key(stream: IO[bytes]) -> str:
    """The sha256 of the file's head (header, metadata) and tail (trailer, end record)."""
    stream.seek(0)
    header = _exact(stream, HEADER.size + CRC.size)
    magic, _, _, meta_len = HEADER.unpack_from(header)
    if magic != MAGIC or meta_len > MAX_METADATA:
        raise FormatError("not an FLM file (bad magic bytes or header)")
    head = header + _exact(stream, meta_len + CRC.size)
    size = stream.seek(0, os.SEEK_END)
    stream.seek(size - END.size)
    length, end_magic = END.unpack(_exact(stream, END.size))
    start = size - END.size - CRC.size - length - TRAILER.size
    if end_magic != END_MAGIC or length > MAX_METADATA or start < len(head):
        raise FormatError("file is truncated or corrupt: bad end record")
    stream.seek(start)
    tail = _exact(stream, size - start)
    return hashlib.sha256(head + tail).hexdigest()


def _local_key(path: Path) -> str | None:
    try:
        with open(path, "rb") as local:
            return file_key(local)
    except (OSError, FLMError):
        return None


def cached_copy(url: str, options: Mapping[str, Any], cache_dir: str | os.PathLike[str],
                ) -> tuple[Path, bool]:
    """The local copy of ``url`` in ``cache_dir``, downloaded if absent or stale.

    :return: the entry's path and whether it was already there (a hit).
    """
    directory = Path(os.fspath(cache_dir))
    directory.mkdir(parents=True, exist_ok=True)
    with reading(url, options) as remote:
        key = file_key(remote)
        target = directory / f"{key}.flm"
        if target.exists():
            if _local_key(target) == key:
                return target, True
            evict(target)
        remote.seek(0)
        tmp = directory / f".{key}.{uuid.uuid4().hex}.tmp"
        try:
            with open(tmp, "wb") as out:
                while chunk := remote.read(LARGEST):
                    out.write(chunk)
            if _local_key(tmp) != key:
                raise RemoteError(f"{redact(url)} changed while it was downloaded; load it again")
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return target, False


def evict(entry: Path) -> None:
    """Remove a cache entry that failed its checks."""
    entry.unlink(missing_ok=True)
